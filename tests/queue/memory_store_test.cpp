// SPDX-License-Identifier: MIT
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <herald/queue/queue.hpp>
#include <herald/store/memory_store.hpp>
#include <herald/testing/manual_clock.hpp>
#include <optional>
#include <string>
#include <thread>

#include "catch.hpp"
#include "support/child_process.hpp"
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

#if HERALD_TEST_SQLITE
#define HERALD_LOCKING_STORES herald_test::memory_fixture, herald_test::sqlite_fixture
#else
#define HERALD_LOCKING_STORES herald_test::memory_fixture
#endif

TEMPLATE_TEST_CASE(
    "a transaction that holds a one-connection store's lock, destroyed on another thread, "
    "ends the process with a sentence instead of deadlocking the store",
    "[queue][memory][sqlite][transaction][reliability]", HERALD_LOCKING_STORES) {
  // The child's files go in a directory of their own: it never gets to remove them.
  const auto dir =
      std::filesystem::temp_directory_path() / ("herald-child-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto end = herald_test::run_in_child([&] {
    ::setenv("TMPDIR", dir.c_str(), 1);
    TestType fixture;
    std::optional<decltype(fixture.store.begin())> tx(fixture.store.begin());
    std::thread([&] { tx.reset(); }).join();  // ends the process here
  });
  std::filesystem::remove_all(dir);
  CHECK(end.stopped());
  CHECK_THAT(end.stderr_text,
             herald_test::contains("destroyed on a thread other than the one that began it"));
}
