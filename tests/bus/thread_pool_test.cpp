// SPDX-License-Identifier: MIT
#include <herald/bus/thread_pool.hpp>

#include <atomic>
#include <set>
#include <mutex>
#include <thread>

#include "catch.hpp"

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
