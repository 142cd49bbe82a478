// SPDX-License-Identifier: MIT
#include <herald/bus/bus.hpp>
#include <herald/routing/event_pattern.hpp>

#include <string>
#include <vector>

#include "catch.hpp"

namespace home {
struct reading {
  static constexpr std::string_view event_type = "home.sensor.temperature";
  std::string room;
  double celsius = 0;
};
void to_json(nlohmann::json& j, const reading& r) { j = {{"room", r.room}, {"celsius", r.celsius}}; }
void from_json(const nlohmann::json& j, reading& r) {
  j.at("room").get_to(r.room);
  j.at("celsius").get_to(r.celsius);
}
}  // namespace home

TEMPLATE_TEST_CASE("bus.subscribe<T>(pattern, handler) filters by the CloudEvent JSON form",
                   "[routing][bus]", herald::bus, herald::local_bus) {
  TestType bus;
  std::vector<std::string> alerts;
  auto s = bus.template subscribe<home::reading>(
      herald::event_pattern::parse(R"({"source":[{"prefix":"/home/"}],
                                       "data":{"celsius":[{"numeric":[">=",30]}],
                                               "room":[{"anything-but":"sauna"}]}})"),
      [&](const home::reading& r) { alerts.push_back(r.room); });
  herald::message<home::reading> kitchen(home::reading{"kitchen", 31});
  kitchen.source = "/home/kitchen";
  bus.publish(kitchen);
  herald::message<home::reading> sauna(home::reading{"sauna", 80});
  sauna.source = "/home/sauna";
  bus.publish(sauna);
  bus.publish(home::reading{"hall", 35});  // the bus's default source is not under /home/
  herald::message<home::reading> cool(home::reading{"hall", 20});
  cool.source = "/home/hall";
  bus.publish(cool);
  CHECK(alerts == std::vector<std::string>{"kitchen"});
}

TEST_CASE("to_cloudevent_json gives the structured form patterns see", "[routing][codec]") {
  herald::message<home::reading> m(home::reading{"kitchen", 21.5});
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
  herald::typed_pattern<home::reading> hot(
      herald::event_pattern::parse(R"({"data":{"celsius":[{"numeric":[">",30]}]}})"));
  CHECK(hot(home::reading{"kitchen", 31}));
  CHECK_FALSE(hot(home::reading{"kitchen", 21}));
  herald::typed_pattern<home::reading> from_home(
      herald::event_pattern::parse(R"({"source":[{"prefix":"/home/"}]})"));
  herald::message<home::reading> m(home::reading{"hall", 1});
  m.source = "/home/hall";
  CHECK(from_home(m));
  CHECK_FALSE(from_home(home::reading{"hall", 1}));  // a plain event has no source

  herald::bus bus;  // as a bus filter it sees the message's attributes
  int seen = 0;
  auto s = bus.subscribe<home::reading>(from_home, [&](const home::reading&) { ++seen; });
  bus.publish(m);
  bus.publish(home::reading{"hall", 1});  // source is the bus's, not under /home/
  CHECK(seen == 1);
}
