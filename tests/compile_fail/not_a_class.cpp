// SPDX-License-Identifier: MIT
#include <herald/bus/bus.hpp>

void misuse(herald::local_bus& bus) { bus.publish(42); }
