// SPDX-License-Identifier: MIT
#include <atomic>
#include <herald/bus/bus.hpp>
#include <herald/routing/route.hpp>
#include <herald/subscription.hpp>
#include <herald/transport/inproc.hpp>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "catch.hpp"

namespace {

struct subscription_ping {
  static constexpr std::string_view event_type = "test.net.ping";
  int n = 0;
};

// Resets `subscriptions` on one thread while `destroy` runs on another,
// `rounds` times; a use after free here is what ASan (in CI) reports.
template <class Make>
void race_reset_against_destruction(int rounds, Make make) {
  for (int round = 0; round < rounds; ++round) {
    std::vector<herald::subscription> subscriptions;
    auto destroy = make(subscriptions);
    std::atomic<bool> go{false};
    std::thread resetter([&] {
      while (!go.load()) {
      }
      for (auto& s : subscriptions) s.reset();
    });
    go = true;
    destroy();
    resetter.join();
    for (const auto& s : subscriptions) REQUIRE_FALSE(s.active());
  }
}

}  // namespace

TEST_CASE("reset() racing the bus's destruction on another thread touches nothing freed",
          "[bus][subscription][reliability]") {
  race_reset_against_destruction(300, [](std::vector<herald::subscription>& out) {
    auto bus = std::make_shared<std::optional<herald::bus>>(std::in_place);
    for (int i = 0; i < 32; ++i)
      out.push_back((*bus)->subscribe<subscription_ping>([](const subscription_ping&) {}));
    return [bus] { bus->reset(); };
  });
}

TEST_CASE("reset() of a route racing the bus's destruction touches nothing freed",
          "[bus][subscription][routing][reliability]") {
  race_reset_against_destruction(200, [](std::vector<herald::subscription>& out) {
    auto bus = std::make_shared<std::optional<herald::bus>>(std::in_place);
    for (int i = 0; i < 16; ++i) {
      out.push_back(
          (*bus)->route(R"({"type": ["test.net.ping"]})", [](const herald::envelope&) {}));
    }
    return [bus] { bus->reset(); };
  });
}

TEST_CASE("reset() racing the inproc transport's destruction touches nothing freed",
          "[transport][subscription][reliability]") {
  race_reset_against_destruction(300, [](std::vector<herald::subscription>& out) {
    auto transport = std::make_shared<std::optional<herald::inproc_transport>>(std::in_place);
    for (int i = 0; i < 32; ++i) {
      out.push_back((*transport)->subscribe("test.net", {}, [](const herald::wire_message&) {}));
    }
    return [transport] { transport->reset(); };
  });
}

TEST_CASE("a subscription that outlives its bus is inactive and resets harmlessly",
          "[bus][subscription]") {
  herald::subscription s;
  {
    herald::local_bus bus;
    s = bus.subscribe<subscription_ping>([](const subscription_ping&) {});
    CHECK(s.active());
  }
  CHECK_FALSE(s.active());
  s.reset();
}
