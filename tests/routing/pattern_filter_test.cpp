// SPDX-License-Identifier: MIT
#include <herald/bus/bus.hpp>
#include <herald/cloudevent_json.hpp>
#include <herald/routing/typed_pattern.hpp>
#include <string>
#include <vector>

#include "catch.hpp"
#include "support/home_events.hpp"

TEMPLATE_TEST_CASE("bus.subscribe<T>(pattern, handler) filters by the CloudEvent JSON form",
                   "[routing][bus]", herald::bus, herald::local_bus) {
  TestType bus;
  std::vector<std::string> alerts;
  auto s = bus.template subscribe<home::temperature>(
      herald::event_pattern::parse(R"({"source":[{"prefix":"/home/"}],
                                       "data":{"celsius":[{"numeric":[">=",30]}],
                                               "room":[{"anything-but":"sauna"}]}})"),
      [&](const home::temperature& r) { alerts.push_back(r.room); });
  herald::message<home::temperature> kitchen(home::temperature{"kitchen", 31});
  kitchen.source = "/home/kitchen";
  bus.publish(kitchen);
  herald::message<home::temperature> sauna(home::temperature{"sauna", 80});
  sauna.source = "/home/sauna";
  bus.publish(sauna);
  bus.publish(home::temperature{"hall", 35});  // the bus's default source is not under /home/
  herald::message<home::temperature> cool(home::temperature{"hall", 20});
  cool.source = "/home/hall";
  bus.publish(cool);
  CHECK(alerts == std::vector<std::string>{"kitchen"});
}

TEST_CASE("to_cloudevent_json gives the structured form patterns see", "[routing][codec]") {
  herald::message<home::temperature> m(home::temperature{"kitchen", 21.5});
  m.id = "1";
  m.source = "/home";
  m.subject = "s1";
  m.extensions.set("floor", std::int64_t{2});
  auto j = herald::to_cloudevent_json(m);
  CHECK(j["specversion"] == "1.0");
  CHECK(j["type"] == "home.sensor.temperature");
  CHECK(j["subject"] == "s1");
  CHECK(j["floor"] == 2);
  CHECK(j["data"]["celsius"] == 21.5);
  CHECK_FALSE(j.contains("correlationid"));
}

TEST_CASE("typed_pattern: a pattern bound to a type, usable as a predicate", "[routing]") {
  herald::typed_pattern<home::temperature> hot(
      herald::event_pattern::parse(R"({"data":{"celsius":[{"numeric":[">",30]}]}})"));
  CHECK(hot(home::temperature{"kitchen", 31}));
  CHECK_FALSE(hot(home::temperature{"kitchen", 21}));
  herald::typed_pattern<home::temperature> from_home(
      herald::event_pattern::parse(R"({"source":[{"prefix":"/home/"}]})"));
  herald::message<home::temperature> m(home::temperature{"hall", 1});
  m.source = "/home/hall";
  CHECK(from_home(m));
  CHECK_FALSE(from_home(home::temperature{"hall", 1}));  // a plain event has no source

  herald::bus bus;  // as a bus filter it sees the message's attributes
  int seen = 0;
  auto s = bus.subscribe<home::temperature>(from_home, [&](const home::temperature&) { ++seen; });
  bus.publish(m);
  bus.publish(home::temperature{"hall", 1});  // source is the bus's, not under /home/
  CHECK(seen == 1);
}
