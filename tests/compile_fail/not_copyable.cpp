// SPDX-License-Identifier: MIT
#include <herald/bus/bus.hpp>
#include <memory>

struct order_placed {
  static constexpr std::string_view event_type = "shop.order.placed";
  std::unique_ptr<int> details;
};

void misuse(herald::local_bus& bus) { bus.publish(order_placed{}); }
