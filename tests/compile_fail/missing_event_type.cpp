// SPDX-License-Identifier: MIT
#include <herald/bus/bus.hpp>

struct order_placed {
  int id = 0;
};

void misuse(herald::local_bus& bus) { bus.publish(order_placed{}); }
