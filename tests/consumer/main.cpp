// SPDX-License-Identifier: MIT
// What a user's first program looks like: one include, one event, one handler.
#include <fmt/core.h>

#include <herald/herald.hpp>

struct order_placed {
  static constexpr std::string_view event_type = "shop.order.placed";
  int id = 0;
};

int main() {
  herald::bus bus;
  auto s = bus.subscribe<order_placed>([](const herald::message<order_placed>& m) {
    fmt::print("consumer received {} #{} (herald {}.{}.{})\n", m.type, m.data.id,
               herald::version_major, herald::version_minor, herald::version_patch);
  });
  bus.publish(order_placed{7});
}
