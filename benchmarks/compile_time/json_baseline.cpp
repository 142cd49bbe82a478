// SPDX-License-Identifier: MIT
// The floor for every entry header that sees JSON: an event with its nlohmann
// hooks, turned to text and back, and one fmt call. CLIENT_HEADER names the
// backend's client library header where the entry header needs one.
#include <fmt/core.h>

#include <nlohmann/json.hpp>
#include <string>
#ifdef CLIENT_HEADER
#include CLIENT_HEADER
#endif

struct order_placed {
  static constexpr std::string_view event_type = "shop.order.placed";
  int id = 0;
  std::string customer;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order_placed, id, customer)

std::string placed() {
  const nlohmann::json j = order_placed{7, "ada"};
  const auto back = nlohmann::json::parse(j.dump()).get<order_placed>();
  return fmt::format("{} {}", back.id, back.customer);
}
