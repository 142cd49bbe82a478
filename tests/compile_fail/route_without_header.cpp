// SPDX-License-Identifier: MIT
// bus.route without herald/routing/route.hpp.
#include <herald/bus/bus.hpp>
#include <string_view>

herald::subscription misuse(herald::local_bus& bus) {
  return bus.route(std::string_view(R"({"source":["/shop"]})"), [](const auto&) {});
}
