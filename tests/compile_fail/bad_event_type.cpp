// SPDX-License-Identifier: MIT
#include <herald/bus/bus.hpp>

struct order_placed {
  static constexpr std::string_view event_type = "OrderPlaced";
};

void misuse(herald::local_bus& bus) { bus.publish(order_placed{}); }
