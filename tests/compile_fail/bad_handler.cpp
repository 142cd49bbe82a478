// SPDX-License-Identifier: MIT
#include <herald/bus/bus.hpp>

struct order_placed {
  static constexpr std::string_view event_type = "shop.order.placed";
};

herald::subscription misuse(herald::local_bus& bus) {
  return bus.subscribe<order_placed>([](int) {});
}
