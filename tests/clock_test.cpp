// SPDX-License-Identifier: MIT
#include <herald/clock.hpp>
#include <herald/testing/manual_clock.hpp>
#include <thread>

#include "catch.hpp"

using namespace std::chrono_literals;

TEST_CASE("manual_clock moves only when advanced, and never backward", "[clock]") {
  herald::manual_clock clock;
  auto start = clock.now();
  CHECK(clock.now() == start);
  clock.advance(24h);
  CHECK(clock.now() == start + 24h);
  clock.advance(-5s);
  CHECK(clock.now() == start + 24h);
  clock.advance_to(start);
  CHECK(clock.now() == start + 24h);
  clock.advance_to(start + 48h);
  CHECK(clock.now() == start + 48h);
}

TEST_CASE("manual_clock starts at a fixed point unless told otherwise", "[clock]") {
  herald::manual_clock a;
  herald::manual_clock b;
  CHECK(a.now() == b.now());
  herald::manual_clock c(herald::time_point{1000s});
  CHECK(c.now().time_since_epoch() == 1000s);
}

TEST_CASE("manual_clock may be advanced and read from several threads", "[clock]") {
  herald::manual_clock clock;
  auto start = clock.now();
  std::thread a([&] {
    for (int i = 0; i < 1000; ++i) clock.advance(1ms);
  });
  std::thread b([&] {
    for (int i = 0; i < 1000; ++i) clock.advance(1ms);
  });
  a.join();
  b.join();
  CHECK(clock.now() == start + 2000ms);
}

TEST_CASE("system_clock reads the real time", "[clock]") {
  herald::system_clock clock;
  auto a = clock.now();
  auto b = std::chrono::system_clock::now();
  CHECK(b - a < 10s);
  STATIC_REQUIRE(herald::clock<herald::system_clock>);
  STATIC_REQUIRE(herald::clock<herald::manual_clock>);
}
