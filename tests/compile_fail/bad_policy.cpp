// SPDX-License-Identifier: MIT
#include <herald/bus/bus.hpp>

struct my_policy {};

herald::basic_bus<my_policy>* misuse() { return new herald::basic_bus<my_policy>(); }
