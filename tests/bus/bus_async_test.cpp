// SPDX-License-Identifier: MIT
#include <atomic>
#include <condition_variable>
#include <herald/bus/bus.hpp>
#include <herald/bus/thread_pool.hpp>
#include <mutex>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support/failure_recorder.hpp"

using namespace std::chrono_literals;

namespace {

struct tick {
  static constexpr std::string_view event_type = "test.clock.tick";
  int n = 0;
};

struct tock {
  static constexpr std::string_view event_type = "test.clock.tock";
  int n = 0;
};

// Holds every delivery until opened, so that tests can fill a queue.
class gate {
 public:
  void wait() {
    std::unique_lock lock(mutex_);
    ++waiting_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_; });
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  // Waits, with a generous deadline, until a delivery is parked at the gate.
  bool someone_waiting() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 30s, [&] { return waiting_ > 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
  int waiting_ = 0;
};

herald::bus_options async_options(herald::thread_pool& pool, std::size_t capacity,
                                  herald::overflow_policy policy) {
  herald::bus_options options;
  options.async_executor = &pool;
  options.queue_capacity = capacity;
  options.overflow = policy;
  return options;
}

// A bus with a queue of 4 whose one drain thread is parked in the handler of
// message 0 until held.open(): what is published next stays queued.
struct parked_bus {
  explicit parked_bus(herald::overflow_policy policy)
      : bus(with_sink(async_options(pool, 4, policy))),
        subscription(bus.subscribe<tick>([this](const tick& t) {
          if (t.n == 0) held.wait();
          seen.push_back(t.n);
        })) {
    bus.publish_async(tick{0});
    REQUIRE(held.someone_waiting());
  }

  // Even when a check failed early: never leave the drain thread parked.
  ~parked_bus() {
    held.open();
    bus.drain();
  }

  herald::bus_options with_sink(herald::bus_options o) {
    o.failures = &failures;
    return o;
  }

  herald_test::failure_recorder failures;
  herald::thread_pool pool{1};
  herald::bus bus;
  gate held;
  std::vector<int> seen;  // written by the drain thread, read after drain()
  herald::subscription subscription;
};

}  // namespace

TEST_CASE("publish_async delivers on the pool, in order, and drain waits for it", "[bus][async]") {
  herald::thread_pool pool(1);
  herald::bus bus(async_options(pool, 64, herald::overflow_policy::block));
  std::vector<int> seen;
  std::thread::id handler_thread;
  auto s = bus.subscribe<tick>([&](const tick& t) {
    seen.push_back(t.n);
    handler_thread = std::this_thread::get_id();
  });
  for (int i = 0; i < 1000; ++i) bus.publish_async(tick{i});
  bus.drain();
  REQUIRE(seen.size() == 1000);
  for (int i = 0; i < 1000; ++i) REQUIRE(seen[static_cast<std::size_t>(i)] == i);
  CHECK(handler_thread != std::this_thread::get_id());
}

TEST_CASE("overflow_policy::reject throws overflow_error and queues nothing", "[bus][async]") {
  parked_bus p(herald::overflow_policy::reject);
  for (int i = 1; i <= 4; ++i) p.bus.publish_async(tick{i});  // fills the queue
  try {
    p.bus.publish_async(tick{5});
    FAIL("a full queue accepted a message under reject");
  } catch (const herald::overflow_error& e) {
    CHECK(e.code() == herald::errc::overflow);
    CHECK_THAT(e.what(), herald_test::contains("queue is full (4 messages)"));
  }
  p.held.open();
  p.bus.drain();
  CHECK(p.seen == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(p.bus.dropped() == 0);
}

TEST_CASE("overflow_policy::drop_oldest discards the oldest and counts it", "[bus][async]") {
  parked_bus p(herald::overflow_policy::drop_oldest);
  for (int i = 1; i <= 10; ++i) p.bus.publish_async(tick{i});
  p.held.open();
  p.bus.drain();
  CHECK(p.seen == std::vector<int>{0, 7, 8, 9, 10});
  CHECK(p.bus.dropped() == 6);
  auto dropped = p.failures.of(herald::failure_kind::overflow_dropped);
  REQUIRE(dropped.size() == 6);  // each one reported, not only counted
  CHECK(dropped[0].code == herald::errc::overflow);
  CHECK(dropped[0].part == "bus");
}

TEST_CASE("overflow_policy::block makes the publisher wait for room, losing nothing",
          "[bus][async]") {
  parked_bus p(herald::overflow_policy::block);
  for (int i = 1; i <= 4; ++i) p.bus.publish_async(tick{i});
  std::atomic<bool> published{false};
  std::thread publisher([&] {
    p.bus.publish_async(tick{5});  // blocks: the queue is full
    published = true;
  });
  // Not a timing assertion: nothing can empty the queue before open().
  CHECK_FALSE(published.load());
  p.held.open();
  publisher.join();
  p.bus.drain();
  CHECK(published.load());
  CHECK(p.seen == std::vector<int>{0, 1, 2, 3, 4, 5});
  CHECK(p.bus.dropped() == 0);
}

TEST_CASE(
    "a full queue under block, published to from its own drain thread, fails instead of "
    "deadlocking",
    "[bus][async]") {
  herald::thread_pool pool(1);
  std::vector<std::string> errors;
  auto options = async_options(pool, 2, herald::overflow_policy::block);
  options.on_error = [&](const herald::handler_failure& f) { errors.push_back(f.what()); };
  herald::bus bus(options);
  auto s = bus.subscribe<tick>([&](const tick& t) {
    if (t.n == 0) {
      for (int i = 1; i <= 3; ++i) bus.publish_async(tick{i});
    }
  });
  bus.publish_async(tick{0});
  bus.drain();
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], herald_test::contains("would deadlock"));
}

TEST_CASE("async messages published from a handler keep correlation and causation",
          "[bus][async][causation]") {
  herald::thread_pool pool(2);
  herald::bus bus(async_options(pool, 16, herald::overflow_policy::block));
  std::mutex mutex;
  herald::message<tick> first;
  herald::message<tock> second;
  auto a = bus.subscribe<tick>([&](const herald::message<tick>& m) {
    {
      std::lock_guard lock(mutex);
      first = m;
    }
    bus.publish_async(tock{m.data.n});
  });
  auto b = bus.subscribe<tock>([&](const herald::message<tock>& m) {
    std::lock_guard lock(mutex);
    second = m;
  });
  bus.publish_async(tick{1});
  bus.drain();
  bus.drain();  // the tock was queued by the tick's handler
  std::lock_guard lock(mutex);
  CHECK(second.causationid == first.id);
  CHECK(second.correlationid == first.id);
}

TEST_CASE("destroying the bus delivers what was queued", "[bus][async]") {
  herald::thread_pool pool(1);
  std::atomic<int> seen{0};
  {
    herald::bus bus(async_options(pool, 1024, herald::overflow_policy::block));
    auto s = bus.subscribe<tick>([&](const tick&) { ++seen; });
    for (int i = 0; i < 500; ++i) bus.publish_async(tick{i});
    // s would be destroyed before the bus; release it so the handler is
    // still there while the destructor drains.
    s.release();
  }
  CHECK(seen == 500);
}

TEST_CASE(
    "publish_async refused by a stopped executor queues nothing, so a retry cannot "
    "duplicate",
    "[bus][async][reliability]") {
  herald::thread_pool pool(1);
  herald::bus bus(async_options(pool, 16, herald::overflow_policy::block));
  int seen = 0;
  auto s = bus.subscribe<tick>([&](const tick&) { ++seen; });
  pool.stop();
  try {
    bus.publish_async(tick{1});
    FAIL("a stopped executor accepted a message");
  } catch (const herald::error& e) {
    CHECK(e.code() == herald::errc::stopped);
  }
  bus.drain();
  CHECK(seen == 0);
  bus.publish(tick{1});  // the caller's fallback: deliver on this thread
  CHECK(seen == 1);
}

TEST_CASE("a full queue under block with a stopped executor throws instead of waiting forever",
          "[bus][async][reliability]") {
  herald::thread_pool pool(1);
  herald::bus bus(async_options(pool, 1, herald::overflow_policy::block));
  int seen = 0;
  auto s = bus.subscribe<tick>([&](const tick&) { ++seen; });
  pool.stop();
  for (int i = 0; i < 3; ++i) CHECK_THROWS_AS(bus.publish_async(tick{i}), herald::error);
  bus.drain();
  CHECK(seen == 0);
}

TEST_CASE(
    "an error handler that rethrows on the async path fails fast through drain() and "
    "leaves the bus working",
    "[bus][async][reliability]") {
  herald::thread_pool pool(1);
  auto options = async_options(pool, 16, herald::overflow_policy::block);
  options.on_error = [](const herald::handler_failure& f) { std::rethrow_exception(f.error); };
  std::atomic<int> delivered{0};
  {
    herald::bus bus(options);
    auto s = bus.subscribe<tick>([&](const tick& t) {
      ++delivered;
      if (t.n == 0) throw std::runtime_error("tick 0 is bad");
    });
    for (int i = 0; i < 6; ++i) bus.publish_async(tick{i});
    try {
      bus.drain();
      FAIL("drain() swallowed the error handler's exception");
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()) == "tick 0 is bad");
    }
    CHECK(delivered == 6);
    bus.drain();  // received once: a second drain has nothing to rethrow
    for (int i = 0; i < 6; ++i) bus.publish_async(tick{i + 1});
    bus.drain();
    CHECK(delivered == 12);
  }  // and the destructor returns
}

TEST_CASE("drain() from an async handler throws would_deadlock instead of waiting for itself",
          "[bus][async][reliability]") {
  herald::thread_pool pool(1);
  auto options = async_options(pool, 16, herald::overflow_policy::block);
  std::vector<herald::errc> codes;
  options.on_error = [&](const herald::handler_failure& f) {
    try {
      std::rethrow_exception(f.error);
    } catch (const herald::error& e) {
      codes.push_back(e.code());
    }
  };
  herald::bus bus(options);
  auto s = bus.subscribe<tick>([&](const tick&) { bus.drain(); });
  bus.publish_async(tick{1});
  bus.drain();
  CHECK(codes == std::vector<herald::errc>{herald::errc::would_deadlock});
}

TEST_CASE("several drain threads deliver everything exactly once", "[bus][async]") {
  herald::thread_pool pool(4);
  auto options = async_options(pool, 128, herald::overflow_policy::block);
  options.max_concurrency = 4;
  herald::bus bus(options);
  std::vector<std::atomic<int>> counts(20000);
  auto s = bus.subscribe<tick>([&](const tick& t) { counts[static_cast<std::size_t>(t.n)]++; });
  std::vector<std::thread> producers;
  for (int p = 0; p < 4; ++p) {
    producers.emplace_back([&, p] {
      for (int i = p; i < 20000; i += 4) bus.publish_async(tick{i});
    });
  }
  for (auto& t : producers) t.join();
  bus.drain();
  for (auto& c : counts) REQUIRE(c.load() == 1);
}
