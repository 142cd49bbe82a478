// SPDX-License-Identifier: MIT
#include <herald/bus/bus.hpp>
#include <herald/routing/route.hpp>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support/home_events.hpp"

namespace {

// Registered nowhere: its to_json, found where it is published, is enough.
struct door_opened {
  static constexpr std::string_view event_type = "home.door.opened";
  std::string door;
};
void to_json(nlohmann::json& j, const door_opened& d) { j = {{"door", d.door}}; }

// Not serializable at all: still routed, on its attributes.
struct heartbeat {
  static constexpr std::string_view event_type = "home.heartbeat";
  int sequence = 0;
};

}  // namespace

TEMPLATE_TEST_CASE("bus.route matches events of any type by their CloudEvent JSON form",
                   "[routing][bus]", herald::bus, herald::local_bus) {
  TestType bus;
  std::vector<std::string> seen;
  auto hot =
      bus.route(R"({"data":{"celsius":[{"numeric":[">=",30]}]}})", [&](const herald::envelope& e) {
        seen.push_back("hot " + e.type + " " + e.data->at("room").get<std::string>());
      });
  auto alarms = bus.route(std::string(R"({"type":[{"prefix":"home.alarm."}]})"),
                          [&](const nlohmann::json& e) {
                            seen.push_back("alarm " + e["data"]["reason"].get<std::string>());
                          });
  auto everything = bus.route(herald::event_pattern::parse(R"({"type":[{"exists":true}]})"),
                              [&](const herald::envelope& e) { seen.push_back("any " + e.type); });

  bus.publish(home::temperature{"kitchen", 31});
  bus.publish(home::temperature{"hall", 19});
  bus.publish(home::alarm{"smoke"});
  bus.publish(heartbeat{7});

  CHECK(seen == std::vector<std::string>{"hot home.sensor.temperature kitchen",
                                         "any home.sensor.temperature",
                                         "any home.sensor.temperature", "alarm smoke",
                                         "any home.alarm.raised", "any home.heartbeat"});
}

TEST_CASE("bus.route: typed handlers and routes both see a publish, routes after handlers",
          "[routing][bus]") {
  herald::bus bus;
  std::vector<std::string> order;
  auto typed = bus.subscribe<home::alarm>([&](const home::alarm&) { order.push_back("typed"); });
  auto routed = bus.route(R"({"type":["home.alarm.raised"]})",
                          [&](const herald::envelope&) { order.push_back("route"); });
  bus.publish(home::alarm{"smoke"});
  CHECK(order == std::vector<std::string>{"typed", "route"});
}

TEST_CASE("bus.route: the envelope carries the message's attributes", "[routing][bus]") {
  herald::bus_options options;
  options.source = "/home/hub";
  herald::bus bus(options);
  herald::envelope got;
  auto r = bus.route(R"({"source":["/home/hub"], "subject":["kitchen"]})",
                     [&](const herald::envelope& e) { got = e; });
  herald::message<home::temperature> m(home::temperature{"kitchen", 21});
  m.subject = "kitchen";
  m.extensions.set("floor", std::int64_t{2});
  bus.publish(m);
  REQUIRE_FALSE(got.id.empty());
  CHECK(got.source == "/home/hub");
  CHECK(got.type == "home.sensor.temperature");
  CHECK(got.correlationid == got.id);
  CHECK(got.time.has_value());
  CHECK(got.extensions == m.extensions);
  REQUIRE(got.data);
  CHECK((*got.data)["celsius"] == 21);
}

TEST_CASE("bus.route: a publish from a route handler is caused by the routed message",
          "[routing][bus]") {
  herald::bus bus;
  std::string cause_id;
  herald::message<home::alarm> raised;
  auto relay =
      bus.route(R"({"data":{"celsius":[{"numeric":[">",50]}]}})", [&](const herald::envelope& e) {
        cause_id = e.id;
        bus.publish(home::alarm{"fire"});
      });
  auto alarms =
      bus.subscribe<home::alarm>([&](const herald::message<home::alarm>& m) { raised = m; });
  bus.publish(home::temperature{"kitchen", 90});
  REQUIRE_FALSE(cause_id.empty());
  CHECK(raised.causationid == cause_id);
  CHECK(raised.correlationid == cause_id);
}

TEST_CASE("bus.route: a throwing route handler is reported and the others still run",
          "[routing][bus]") {
  std::vector<std::string> reports;
  herald::bus_options options;
  options.on_error = [&](const herald::handler_failure& f) {
    reports.push_back(std::string(f.event_type) + ": " + f.what());
  };
  herald::bus bus(options);
  int after = 0;
  auto bad = bus.route(R"({"type":["home.alarm.raised"]})",
                       [](const herald::envelope&) { throw std::runtime_error("siren broken"); });
  auto good =
      bus.route(R"({"type":["home.alarm.raised"]})", [&](const herald::envelope&) { ++after; });
  bus.publish(home::alarm{"smoke"});
  CHECK(after == 1);
  REQUIRE(reports.size() == 1);
  CHECK(reports[0] == "home.alarm.raised: siren broken");
}

TEST_CASE("bus.route: a type without a JSON form is reported once when a route needs its data",
          "[routing][bus]") {
  std::vector<std::string> reports;
  herald::bus_options options;
  options.on_error = [&](const herald::handler_failure& f) { reports.push_back(f.what()); };
  herald::bus bus(options);
  int by_type = 0;
  int by_data = 0;
  auto typed = bus.route(R"({"type":["home.heartbeat"]})", [&](const herald::envelope& e) {
    ++by_type;
    CHECK(!e.data);
  });
  auto on_data = bus.route(R"({"data":{"sequence":[{"exists":true}]}})",
                           [&](const herald::envelope&) { ++by_data; });
  bus.publish(heartbeat{1});
  bus.publish(heartbeat{2});
  CHECK(by_type == 2);
  CHECK(by_data == 0);
  REQUIRE(reports.size() == 1);
  CHECK_THAT(reports[0], herald_test::contains("home.heartbeat"));
  CHECK_THAT(reports[0], herald_test::contains("to_json"));

  // Once per bus, not per process: another bus reports it again.
  herald::bus other(options);
  auto other_route = other.route(R"({"data":{"n":[1]}})", [](const herald::envelope&) {});
  other.publish(heartbeat{3});
  CHECK(reports.size() == 2);
}

TEST_CASE("bus.route: a type's to_json reaches routes with no registration", "[routing][bus]") {
  herald::bus bus;
  std::vector<std::string> doors;
  auto on_data = bus.route(R"({"data":{"door":["front"]}})", [&](const herald::envelope& e) {
    doors.push_back(e.data->at("door").get<std::string>());
  });
  bus.publish(door_opened{"front"});
  bus.publish(door_opened{"back"});
  CHECK(doors == std::vector<std::string>{"front"});
}

TEST_CASE("bus.route: an invalid pattern throws and adds nothing", "[routing][bus]") {
  herald::bus bus;
  int calls = 0;
  CHECK_THROWS_AS(
      bus.route(R"({"type":[{"prefix":5}]})", [&](const herald::envelope&) { ++calls; }),
      herald::pattern_error);
  bus.publish(heartbeat{1});
  CHECK(calls == 0);
}

TEMPLATE_TEST_CASE("bus.route: resetting a route stops it, others keep their order",
                   "[routing][bus]", herald::bus, herald::local_bus) {
  TestType bus;
  std::vector<int> calls;
  auto first = bus.route(R"({"type":["home.heartbeat"]})",
                         [&](const herald::envelope&) { calls.push_back(1); });
  auto second = bus.route(R"({"type":["home.heartbeat"]})",
                          [&](const herald::envelope&) { calls.push_back(2); });
  auto third = bus.route(R"({"type":["home.heartbeat"]})",
                         [&](const herald::envelope&) { calls.push_back(3); });
  bus.publish(heartbeat{1});
  second.reset();
  bus.publish(heartbeat{2});
  first.reset();
  third.reset();
  bus.publish(heartbeat{3});
  CHECK(calls == std::vector<int>{1, 2, 3, 1, 3});
  CHECK_FALSE(second.active());
}

TEST_CASE("bus.route: a route removing itself from its own handler takes effect next publish",
          "[routing][bus]") {
  herald::local_bus bus;
  int calls = 0;
  herald::subscription self;
  self = bus.route(R"({"type":["home.heartbeat"]})", [&](const herald::envelope&) {
    ++calls;
    self.reset();
  });
  bus.publish(heartbeat{1});
  bus.publish(heartbeat{2});
  CHECK(calls == 1);
}

TEST_CASE("bus.route: routes added and removed while other threads publish", "[routing][bus]") {
  herald::bus bus;
  std::atomic<int> hot{0};
  auto always = bus.route(R"({"data":{"celsius":[{"numeric":[">",30]}]}})",
                          [&](const herald::envelope&) { hot.fetch_add(1); });
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    while (!stop.load()) {
      auto r = bus.route(R"({"type":["home.sensor.temperature"]})", [](const herald::envelope&) {});
    }
  });
  std::vector<std::thread> publishers;
  for (int t = 0; t < 2; ++t) {
    publishers.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) bus.publish(home::temperature{"kitchen", 40});
    });
  }
  for (auto& p : publishers) p.join();
  stop = true;
  churn.join();
  CHECK(hot.load() == 4000);
}

TEST_CASE(
    "bus.route under churn: every publish reaches exactly the live matching routes, in the "
    "order added",
    "[routing][bus][reliability]") {
  herald::local_bus bus;
  std::mt19937 rng(7);
  struct live_route {
    int key;
    herald::subscription subscription;
  };
  std::map<int, live_route> live;  // by the order added
  std::vector<int> called;
  int next = 0;
  for (int step = 0; step < 4000; ++step) {
    if (live.empty() || rng() % 3 != 0) {
      const int key = static_cast<int>(rng() % 8);
      const int order = next++;
      // Half indexed on an exact room, half unindexed (a prefix).
      const std::string pattern =
          key % 2 == 0
              ? R"({"data": {"room": ["room-)" + std::to_string(key) + R"("]}})"
              : R"({"data": {"room": [{"prefix": "room-)" + std::to_string(key) + R"("}]}})";
      live.emplace(order,
                   live_route{key, bus.route(pattern, [&called, order](const nlohmann::json&) {
                                called.push_back(order);
                              })});
    } else {
      auto victim = live.begin();
      std::advance(victim, static_cast<long>(rng() % live.size()));
      live.erase(victim);
    }
    const int room = static_cast<int>(rng() % 8);
    called.clear();
    bus.publish(home::temperature{"room-" + std::to_string(room), 20});
    std::vector<int> expected;
    for (const auto& [order, r] : live) {
      if (r.key == room) expected.push_back(order);
    }
    REQUIRE(called == expected);
  }
}

TEST_CASE("bus.route: thousands of routes added, matched and removed",
          "[routing][bus][reliability]") {
  herald::bus bus;
  int calls = 0;
  std::vector<herald::subscription> routes;
  for (int i = 0; i < 5000; ++i) {
    routes.push_back(bus.route(R"({"data": {"room": ["room-)" + std::to_string(i) + R"("]}})",
                               [&](const nlohmann::json&) { ++calls; }));
  }
  bus.publish(home::temperature{"room-4999", 20});
  bus.publish(home::temperature{"room-0", 20});
  CHECK(calls == 2);
  for (auto& r : routes) r.reset();
  bus.publish(home::temperature{"room-0", 20});
  CHECK(calls == 2);
}
