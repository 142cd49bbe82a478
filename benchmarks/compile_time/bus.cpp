// SPDX-License-Identifier: MIT
// What a user of the bus compiles: one event, one subscriber, one publish.
#include <herald/bus/bus.hpp>
#include <string>

struct user_signed_up {
  static constexpr std::string_view event_type = "accounts.user.signed_up";
  std::string email;
};

int signed_up() {
  herald::bus bus;
  int seen = 0;
  auto subscription = bus.subscribe<user_signed_up>([&](const user_signed_up&) { ++seen; });
  bus.publish(user_signed_up{"ada@example.com"});
  return seen;
}
