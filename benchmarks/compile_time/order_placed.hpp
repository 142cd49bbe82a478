// SPDX-License-Identifier: MIT
// The event every JSON-seeing compile-time case uses (json_baseline.cpp has the same).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

struct order_placed {
  static constexpr std::string_view event_type = "shop.order.placed";
  int id = 0;
  std::string customer;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order_placed, id, customer)
