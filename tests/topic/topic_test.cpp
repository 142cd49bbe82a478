// SPDX-License-Identifier: MIT
#include <herald/topic/topic.hpp>
#include <string>
#include <vector>

#include "catch.hpp"
#include "support/failure_recorder.hpp"
#include "support/home_events.hpp"

TEST_CASE("a topic carries typed events through the transport as CloudEvents", "[topic]") {
  herald::inproc_transport transport;
  herald::topic<home::temperature> readings(transport, "home.readings");
  std::vector<std::string> raw;
  auto wire = transport.subscribe("home.readings", {},
                                  [&](const herald::wire_message& m) { raw.push_back(m.data); });
  std::vector<herald::message<home::temperature>> seen;
  auto s =
      readings.subscribe([&](const herald::message<home::temperature>& m) { seen.push_back(m); });
  readings.publish(home::temperature{"kitchen", 31.5});
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].data.room == "kitchen");
  CHECK(seen[0].type == "home.sensor.temperature");
  CHECK(seen[0].source == "/herald/topic");
  CHECK(seen[0].id.size() == 36);
  REQUIRE(raw.size() == 1);
  CHECK(nlohmann::json::parse(raw[0])["data"]["celsius"] == 31.5);
}

TEST_CASE(
    "a message that does not decode goes to the dead-letter handler with the reason, and "
    "the subscriber keeps running",
    "[topic]") {
  herald::inproc_transport transport;
  herald_test::failure_recorder failures;
  herald::topic_options options;
  options.failures = &failures;
  herald::topic<home::temperature> readings(transport, "home.readings", options);
  int handled = 0;
  auto s = readings.subscribe([&](const home::temperature&) { ++handled; });

  herald::wire_message junk;
  junk.data = "not json";
  transport.publish("home.readings", junk);
  herald::wire_message wrong_payload;
  wrong_payload.data =
      R"({"specversion":"1.0","id":"1","source":"/x","type":"home.sensor.temperature","data":{"room":1}})";
  transport.publish("home.readings", wrong_payload);
  readings.publish(home::temperature{"hall", 19});

  CHECK(handled == 1);
  CHECK(readings.dead_lettered() == 2);
  auto reasons = failures.all();
  REQUIRE(reasons.size() == 2);
  CHECK(reasons[0].kind == herald::failure_kind::dead_lettered);
  CHECK(reasons[0].part == "topic");
  CHECK(reasons[0].name == "home.readings");
  CHECK(reasons[0].code == herald::errc::decode_failed);
  CHECK_THAT(reasons[0].text,
             herald_test::contains("herald: invalid CloudEvent: is not valid JSON"));
  CHECK_THAT(reasons[1].text,
             herald_test::contains("'data' does not decode as home.sensor.temperature"));
}

TEST_CASE("competing consumers on a topic, and fan-out beside them", "[topic]") {
  herald::inproc_transport transport;
  herald::topic<home::temperature> readings(transport, "home.readings");
  herald::subscribe_options workers;
  workers.group = "workers";
  int a = 0, b = 0, all = 0;
  auto sa = readings.subscribe([&](const home::temperature&) { ++a; }, workers);
  auto sb = readings.subscribe([&](const home::temperature&) { ++b; }, workers);
  auto sc = readings.subscribe([&](const home::temperature&) { ++all; });
  for (int i = 0; i < 10; ++i) readings.publish(home::temperature{"x", 1});
  CHECK(a + b == 10);
  CHECK(a == 5);
  CHECK(all == 10);
}

TEST_CASE("publishing from a topic handler carries correlation and causation",
          "[topic][causation]") {
  herald::inproc_transport transport;
  herald::topic<home::temperature> readings(transport, "home.readings");
  herald::topic<home::alarm> alarms(transport, "home.alarms");
  herald::message<home::temperature> reading;
  herald::message<home::alarm> raised;
  auto s1 = readings.subscribe([&](const herald::message<home::temperature>& m) {
    reading = m;
    if (m.data.celsius > 30) alarms.publish(home::alarm{"too hot in " + m.data.room});
  });
  auto s2 = alarms.subscribe([&](const herald::message<home::alarm>& m) { raised = m; });
  readings.publish(home::temperature{"kitchen", 35});
  CHECK(raised.data.reason == "too hot in kitchen");
  CHECK(raised.causationid == reading.id);
  CHECK(raised.correlationid == reading.id);
}

TEST_CASE("a topic's name is a subject without wildcards", "[topic]") {
  herald::inproc_transport transport;
  using temperatures = herald::topic<home::temperature>;
  CHECK_THROWS_WITH(temperatures(transport, "home..readings"),
                    herald_test::contains("empty token"));
  CHECK_THROWS_WITH(temperatures(transport, "home.*"),
                    herald_test::contains("wildcards are for subscribing"));
}

TEST_CASE(
    "a topic refuses at publish what its subscribers could not decode, with the limit "
    "named; raised limits carry it",
    "[topic][limits][reliability]") {
  herald::inproc_transport transport;
  herald::topic<home::temperature> readings(transport, "home.readings");
  int handled = 0;
  auto s = readings.subscribe([&](const home::temperature&) { ++handled; });
  const std::string huge(2 << 20, 'x');
  try {
    readings.publish(home::temperature{huge, 20});
    FAIL("published what no subscriber can decode");
  } catch (const herald::error& e) {
    CHECK(e.code() == herald::errc::limit_exceeded);
    CHECK_THAT(e.what(), herald_test::contains("decode_limits::max_bytes"));
  }
  CHECK(handled == 0);
  herald::topic_options roomy;
  roomy.limits.max_bytes = 4 << 20;
  herald::topic<home::temperature> big(transport, "home.big", roomy);
  auto t = big.subscribe([&](const home::temperature& r) { handled += r.room == huge; });
  std::uint64_t dead = big.dead_lettered();
  big.publish(home::temperature{huge, 20});
  CHECK(handled == 1);
  CHECK(big.dead_lettered() == dead);
}

TEST_CASE(
    "a topic handler that publishes to its own topic is stopped at the publish depth "
    "limit instead of overflowing the stack",
    "[topic][reliability]") {
  herald_test::failure_recorder failures;
  herald::inproc_transport transport({1, &failures});
  herald::topic<home::temperature> readings(transport, "home.readings");
  int calls = 0;
  auto s = readings.subscribe([&](const home::temperature& t) {
    ++calls;
    readings.publish(home::temperature{t.room, t.celsius + 1});
  });
  readings.publish(home::temperature{"loop", 0});
  CHECK(calls == 128);
  auto undeliverable = failures.all();
  REQUIRE(undeliverable.size() == 1);
  CHECK(undeliverable[0].code == herald::errc::limit_exceeded);
  CHECK_THAT(undeliverable[0].text, herald_test::contains("nested 128 deep"));
}

namespace {

int decodes = 0;  // counted by counted_reading's from_json

struct counted_reading {
  static constexpr std::string_view event_type = "test.reading.counted";
  int value = 0;
};
void to_json(nlohmann::json& j, const counted_reading& r) { j = {{"value", r.value}}; }
void from_json(const nlohmann::json& j, counted_reading& r) {
  ++decodes;
  j.at("value").get_to(r.value);
}

}  // namespace

TEST_CASE("a topic decodes a delivery once for all its subscribers; each gets a const view",
          "[topic]") {
  herald::inproc_transport transport;
  herald::topic<counted_reading> readings(transport, "test.readings");
  std::vector<int> seen;
  std::vector<const counted_reading*> views;
  std::vector<herald::subscription> subs;
  for (int i = 0; i < 5; ++i) {
    subs.push_back(readings.subscribe([&](const counted_reading& r) {
      seen.push_back(r.value);
      views.push_back(&r);
    }));
  }
  decodes = 0;
  readings.publish(counted_reading{42});
  CHECK(seen == std::vector<int>(5, 42));
  CHECK(decodes == 1);
  // One decoded message, seen by all five through a const reference.
  REQUIRE(views.size() == 5);
  for (const auto* v : views) CHECK(v == views.front());
  views.clear();
  // A second topic object with other limits does not reuse what the first decoded.
  herald::topic_options tight;
  tight.limits.max_depth = 8;
  herald::topic<counted_reading> other(transport, "test.readings", tight);
  auto other_sub = other.subscribe([&](const counted_reading& r) { seen.push_back(r.value); });
  decodes = 0;
  readings.publish(counted_reading{7});
  CHECK(decodes == 2);
  CHECK(seen.size() == 11);
}
