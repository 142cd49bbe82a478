// SPDX-License-Identifier: MIT
#include <atomic>
#include <cstdlib>
#include <herald/bus/bus.hpp>
#include <herald/bus/thread_pool.hpp>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "catch.hpp"
#include "support/child_process.hpp"

TEST_CASE("thread_pool runs every posted task, and stop waits for them", "[thread_pool]") {
  std::atomic<int> done{0};
  std::mutex mutex;
  std::set<std::thread::id> threads;
  {
    herald::thread_pool pool(3);
    CHECK(pool.size() == 3);
    for (int i = 0; i < 1000; ++i) {
      pool.post([&] {
        ++done;
        std::lock_guard lock(mutex);
        threads.insert(std::this_thread::get_id());
      });
    }
    pool.stop();
    CHECK(done == 1000);
  }
  CHECK(threads.count(std::this_thread::get_id()) == 0);
}

TEST_CASE("a stopped thread_pool refuses work with a clear error", "[thread_pool]") {
  herald::thread_pool pool(1);
  pool.stop();
  pool.stop();  // idempotent
  try {
    pool.post([] {});
    FAIL("a stopped pool accepted work");
  } catch (const herald::error& e) {
    CHECK(e.code() == herald::errc::stopped);
    CHECK_THAT(e.what(), herald_test::contains("accepts no more work"));
  }
}

TEST_CASE("a pool stopped right after it started never hangs", "[thread_pool][reliability]") {
  // A stop request that fell between a thread's check and its wait was lost,
  // and stop() joined forever: seen once, under load, in 120 s of ctest
  // timeout. The window is a few instructions wide, so this loop catches a
  // regression only under load, and rarely; the fix is the reasoning in
  // thread_pool::work.
  for (int i = 0; i < 2000; ++i) {
    herald::thread_pool pool(2);
    pool.stop();
  }
  SUCCEED();
}

TEST_CASE("a task that throws does not kill the pool", "[thread_pool]") {
  herald::thread_pool pool(1);
  std::atomic<int> after{0};
  pool.post([] { throw std::runtime_error("expected by the test"); });
  pool.post([&] { ++after; });
  pool.stop();
  CHECK(after == 1);
}

TEST_CASE("a pool needs at least one thread", "[thread_pool]") {
  CHECK_THROWS_AS(herald::thread_pool(0), herald::error);
}

TEST_CASE(
    "a thread_pool destroyed before a bus that uses it stops the process with a clear "
    "message instead of a use after free",
    "[bus][async][reliability]") {
  auto end = herald_test::run_in_child([] {
    auto* pool = new herald::thread_pool(1);
    herald::bus_options options;
    options.async_executor = pool;
    herald::bus bus(options);
    delete pool;  // aborts here
  });
  // Stopped, not continued (which would exit 0).
  CHECK(end.stopped());
  CHECK_THAT(end.stderr_text, herald_test::contains("destroyed while 1 bus(es) still use it"));
}

TEST_CASE("a bus destroyed before its thread_pool detaches from it", "[bus][async]") {
  herald::thread_pool pool(1);
  {
    herald::bus_options options;
    options.async_executor = &pool;
    herald::bus bus(options);
    CHECK(pool.users() == 1);
  }
  CHECK(pool.users() == 0);
}
