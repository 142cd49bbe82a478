// SPDX-License-Identifier: MIT
#include <herald/queue/queue.hpp>
#include <herald/store/memory_store.hpp>
#include <herald/testing/manual_clock.hpp>
#include <string>

#include "catch.hpp"
#include "support/queue_fixtures.hpp"

using namespace std::chrono_literals;

TEST_CASE("memory store: expired deduplication ids are forgotten as sends go on",
          "[queue][memory][reliability]") {
  herald::memory_store store;
  herald::manual_clock clock;
  herald::queue<herald_test::job, herald::memory_store> jobs(
      store, "jobs", {.deduplication_window = 1s, .clock = clock});
  auto send_unique = [&](int from, int count) {
    for (int i = from; i < from + count; ++i) {
      herald::send_options o;
      o.deduplication_id = "id-" + std::to_string(i);
      jobs.send(herald_test::job{i, ""}, o);
    }
  };
  send_unique(0, 3000);
  CHECK(store.remembered_deduplication_ids("jobs") == 3000);
  clock.advance(2s);  // every id above has expired
  send_unique(3000, 3000);
  CHECK(store.remembered_deduplication_ids("jobs") <= 3000 + 256);
  // And an id inside its window is still a duplicate.
  herald::send_options again;
  again.deduplication_id = "id-5999";
  CHECK(jobs.send(herald_test::job{0, ""}, again).duplicate);
}
