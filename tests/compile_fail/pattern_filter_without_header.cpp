// SPDX-License-Identifier: MIT
// Filtering by an event pattern without herald/routing/typed_pattern.hpp.
#include <herald/bus/bus.hpp>
#include <herald/routing/event_pattern.hpp>

struct order_placed {
  static constexpr std::string_view event_type = "shop.order.placed";
};

herald::subscription misuse(herald::local_bus& bus, const herald::event_pattern& pattern) {
  return bus.subscribe<order_placed>(pattern, [](const order_placed&) {});
}
