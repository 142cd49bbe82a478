// SPDX-License-Identifier: MIT
// Every part reports to the one failure sink: the bus, the thread pool (the
// worker, inproc and topics have theirs beside their own tests).
#include <herald/bus/bus.hpp>
#include <herald/bus/thread_pool.hpp>
#include <herald/runtime/failure.hpp>
#include <stdexcept>

#include "catch.hpp"
#include "support/failure_recorder.hpp"
#include "support/home_events.hpp"

TEST_CASE("failure sink: a bus handler that throws is reported with the event and message",
          "[runtime][failures]") {
  herald_test::failure_recorder failures;
  herald::bus_options options;
  options.failures = &failures;
  herald::bus bus(options);
  auto s = bus.subscribe<home::temperature>(
      [](const home::temperature&) { throw std::runtime_error("sensor offline"); });
  herald::message<home::temperature> m(home::temperature{"hall", 20});
  m.id = "m-1";
  bus.publish(m);
  auto all = failures.all();
  REQUIRE(all.size() == 1);
  CHECK(all[0].kind == herald::failure_kind::handler_threw);
  CHECK(all[0].part == "bus");
  CHECK(all[0].name == "home.sensor.temperature");
  CHECK(all[0].message_id == "m-1");
  CHECK(all[0].code == herald::errc::handler_failed);
  CHECK(all[0].text == "sensor offline");
}

TEST_CASE("failure sink: a thread pool task that throws is reported, and the pool goes on",
          "[runtime][failures]") {
  herald_test::failure_recorder failures;
  {
    herald::thread_pool pool(1, &failures);
    pool.post([] { throw herald::error(herald::errc::overflow, "full"); });
    pool.post([] {});
  }  // drained and joined
  auto all = failures.all();
  REQUIRE(all.size() == 1);
  CHECK(all[0].part == "thread_pool");
  CHECK(all[0].code == herald::errc::overflow);
  CHECK_THAT(all[0].text, Catch::Contains("herald: full"));
}

TEST_CASE("failure sink: a sink that throws is contained", "[runtime][failures]") {
  herald::failure_callback throwing([](const herald::failure&) { throw std::logic_error("bad"); });
  herald::bus_options options;
  options.failures = &throwing;
  herald::bus bus(options);
  auto s = bus.subscribe<home::temperature>(
      [](const home::temperature&) { throw std::runtime_error("x"); });
  CHECK_NOTHROW(bus.publish(home::temperature{"hall", 20}));
}
