// SPDX-License-Identifier: MIT
#pragma once

// Events the routing and topic tests share: a smart home's readings.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace home {

struct temperature {
  static constexpr std::string_view event_type = "home.sensor.temperature";
  std::string room;
  double celsius = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(temperature, room, celsius)

struct alarm {
  static constexpr std::string_view event_type = "home.alarm.raised";
  std::string reason;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(alarm, reason)

}  // namespace home
