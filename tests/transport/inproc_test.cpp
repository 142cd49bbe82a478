// SPDX-License-Identifier: MIT
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <herald/transport/inproc.hpp>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support/failure_recorder.hpp"
#include "support/transport_fixtures.hpp"

using herald_test::bytes;

TEST_CASE("fan-out: every subscriber gets every message, wildcards included",
          "[transport][inproc]") {
  herald::inproc_transport t;
  std::vector<std::string> a, b, c;
  auto sa =
      t.subscribe("orders.placed", {}, [&](const herald::wire_message& m) { a.push_back(m.data); });
  auto sb =
      t.subscribe("orders.*", {}, [&](const herald::wire_message& m) { b.push_back(m.subject); });
  auto sc =
      t.subscribe("payments.>", {}, [&](const herald::wire_message& m) { c.push_back(m.data); });
  auto r1 = t.publish("orders.placed", bytes("1"));
  auto r2 = t.publish("orders.shipped", bytes("2"));
  CHECK(r2.sequence == r1.sequence + 1);
  CHECK(a == std::vector<std::string>{"1"});
  CHECK(b == std::vector<std::string>{"orders.placed", "orders.shipped"});
  CHECK(c.empty());
  CHECK_THROWS_WITH(t.publish("orders.*", bytes("x")),
                    herald_test::contains("wildcards are for subscribing"));
}

TEST_CASE("a group: each message goes to exactly one member, spread among them",
          "[transport][inproc]") {
  herald::inproc_transport t;
  std::map<int, int> counts;
  std::vector<herald::subscription> members;
  herald::subscribe_options workers;
  workers.group = "workers";
  for (int i = 0; i < 3; ++i) {
    members.push_back(
        t.subscribe("jobs", workers, [&, i](const herald::wire_message&) { counts[i]++; }));
  }
  int audit = 0;
  auto fan_out = t.subscribe("jobs", {}, [&](const herald::wire_message&) { ++audit; });
  for (int n = 0; n < 300; ++n) t.publish("jobs", bytes("job"));
  CHECK(counts[0] + counts[1] + counts[2] == 300);
  CHECK(counts[0] == 100);  // round-robin
  CHECK(counts[1] == 100);
  CHECK(audit == 300);  // fan-out alongside the group
}

TEST_CASE("a member leaving mid-stream loses nothing and receives nothing more",
          "[transport][inproc]") {
  herald::inproc_transport t;
  herald::subscribe_options workers;
  workers.group = "workers";
  int handled = 0;
  auto stays = t.subscribe("jobs", workers, [&](const herald::wire_message&) { ++handled; });
  herald::subscription leaves;
  int calls_to_leaver = 0;
  leaves = t.subscribe("jobs", workers, [&](const herald::wire_message&) {
    ++handled;
    if (++calls_to_leaver == 5) leaves.reset();  // leaves from inside its own handler
  });
  for (int n = 0; n < 100; ++n) t.publish("jobs", bytes("job"));
  CHECK(handled == 100);
  CHECK(calls_to_leaver == 5);
}

TEST_CASE("a member leaving while other threads publish loses nothing", "[transport][inproc]") {
  herald::inproc_transport t;
  herald::subscribe_options workers;
  workers.group = "workers";
  std::atomic<int> handled{0};
  auto stays = t.subscribe("jobs", workers, [&](const herald::wire_message&) { ++handled; });
  std::atomic<int> calls_to_leaver{0};
  herald::subscription leaves = t.subscribe("jobs", workers, [&](const herald::wire_message&) {
    ++handled;
    ++calls_to_leaver;
  });
  std::thread other([&] {
    for (int n = 0; n < 500; ++n) t.publish("jobs", bytes("job"));
  });
  for (int n = 0; n < 500; ++n) {
    t.publish("jobs", bytes("job"));
    if (n == 50) leaves.reset();  // while the other thread keeps publishing
  }
  other.join();
  CHECK(handled.load() == 1000);  // every message went to a member still there
  int after_leaving = calls_to_leaver.load();
  for (int n = 0; n < 100; ++n) t.publish("jobs", bytes("job"));
  CHECK(calls_to_leaver.load() ==
        after_leaving);  // nothing once the publishes that had started end
  CHECK(handled.load() == 1100);
}

TEST_CASE("a handler that throws has not acknowledged: another member gets the message",
          "[transport][inproc]") {
  herald::inproc_transport t;
  herald::subscribe_options workers;
  workers.group = "workers";
  std::vector<std::uint32_t> attempts;
  auto flaky = t.subscribe("jobs", workers, [&](const herald::wire_message& m) {
    attempts.push_back(m.delivery_attempt);
    throw std::runtime_error("busy");
  });
  auto steady = t.subscribe("jobs", workers, [&](const herald::wire_message& m) {
    attempts.push_back(m.delivery_attempt);
  });
  t.publish("jobs", bytes("a"));  // round-robin starts at flaky: it fails, steady takes it
  CHECK(attempts == std::vector<std::uint32_t>{1, 2});
}

TEST_CASE("after max_deliver failed attempts a message goes to the failure sink",
          "[transport][inproc]") {
  herald_test::failure_recorder failures;
  herald::inproc_transport::options options;
  options.max_deliver = 4;
  options.failures = &failures;
  herald::inproc_transport t(options);
  int calls = 0;
  auto s = t.subscribe("jobs", {}, [&](const herald::wire_message&) {
    ++calls;
    throw std::runtime_error("always");
  });
  t.publish("jobs", bytes("x"));
  CHECK(calls == 4);
  auto all = failures.all();
  REQUIRE(all.size() == 1);
  CHECK(all[0].kind == herald::failure_kind::handler_threw);
  CHECK(all[0].part == "inproc");
  CHECK(all[0].name == "jobs");
  CHECK(all[0].attempt == 4);
  CHECK(all[0].code == herald::errc::handler_failed);
  CHECK_THAT(all[0].text, Catch::Contains("after 4 attempt(s), and dropped: always"));
}

TEST_CASE("inproc: publishers and subscribers on many threads at once",
          "[transport][inproc][concurrency]") {
  herald::inproc_transport t;
  std::atomic<int> stable{0};
  auto s = t.subscribe("ticks", {}, [&](const herald::wire_message&) { ++stable; });
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    herald::subscribe_options g;
    g.group = "g";
    while (!stop) {
      auto a = t.subscribe("ticks", g, [](const herald::wire_message&) {});
      auto b = t.subscribe("ticks", {}, [](const herald::wire_message&) {});
    }
  });
  std::vector<std::thread> publishers;
  for (int p = 0; p < 2; ++p) {
    publishers.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) t.publish("ticks", bytes("t"));
    });
  }
  for (auto& p : publishers) p.join();
  stop = true;
  churn.join();
  CHECK(stable.load() == 10000);
}

TEST_CASE(
    "a fan-out subscriber that fails a message and then leaves reports it instead of "
    "losing it silently",
    "[transport][inproc][reliability]") {
  herald_test::failure_recorder failures;
  herald::inproc_transport t({3, &failures});
  herald::subscription s;
  s = t.subscribe("orders.placed", {}, [&](const herald::wire_message&) {
    s.reset();  // leaves from its own handler
    throw std::runtime_error("out of stock");
  });
  t.publish("orders.placed", bytes("1"));
  auto reported = failures.all();
  REQUIRE(reported.size() == 1);
  CHECK(reported[0].payload == "1");
  CHECK_THAT(reported[0].text, Catch::Contains("out of stock"));
}

TEST_CASE("a message whose group members all left before delivery is reported, not lost",
          "[transport][inproc][reliability]") {
  herald_test::failure_recorder failures;
  herald::inproc_transport t({3, &failures});
  int delivered = 0;
  herald::subscription a = t.subscribe("orders.placed", {.group = "billing"},
                                       [&](const herald::wire_message&) { ++delivered; });
  herald::subscription b = t.subscribe("orders.placed", {.group = "billing"},
                                       [&](const herald::wire_message&) { ++delivered; });
  // A fan-out subscriber, delivered first, makes the whole group leave mid-publish.
  auto closer = t.subscribe("orders.placed", {}, [&](const herald::wire_message&) {
    a.reset();
    b.reset();
  });
  t.publish("orders.placed", bytes("7"));
  CHECK(delivered == 0);
  auto reported = failures.all();
  REQUIRE(reported.size() == 1);
  CHECK(reported[0].payload == "7");
  CHECK(reported[0].code == herald::errc::stopped);
  CHECK_THAT(reported[0].text, herald_test::contains("every member of group 'billing'"));
}

namespace {

// Handlers that hold until the test opens the gate, counting how many are inside.
struct held_handlers {
  std::mutex mutex;
  std::condition_variable changed;
  bool open = false;
  int inside = 0;
  int most_inside = 0;
  int handled = 0;

  void handle() {
    std::unique_lock lock(mutex);
    ++inside;
    most_inside = std::max(most_inside, inside);
    changed.notify_all();
    changed.wait(lock, [&] { return open; });
    --inside;
    ++handled;
    changed.notify_all();
  }
  template <class Pred>
  bool wait_for(Pred pred) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(30), pred);
  }
};

}  // namespace

TEST_CASE("max_in_flight bounds the handlers of a subscription running at once; publishers wait",
          "[transport][inproc]") {
  herald::inproc_transport t;
  held_handlers held;
  herald::subscribe_options opts;
  opts.max_in_flight = 2;
  auto s = t.subscribe("jobs", opts, [&](const herald::wire_message&) { held.handle(); });
  std::vector<std::thread> publishers;
  for (int i = 0; i < 6; ++i) publishers.emplace_back([&] { t.publish("jobs", bytes("x")); });
  REQUIRE(held.wait_for([&] { return held.inside == 2; }));
  // Four publishers are waiting for a slot; none may get in while the gate is shut.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    std::lock_guard lock(held.mutex);
    CHECK(held.inside == 2);
    held.open = true;
  }
  held.changed.notify_all();
  for (auto& p : publishers) p.join();
  CHECK(held.handled == 6);
  CHECK(held.most_inside == 2);
}

TEST_CASE("without max_in_flight, every publisher's delivery runs at once", "[transport][inproc]") {
  herald::inproc_transport t;
  held_handlers held;
  auto s = t.subscribe("jobs", {}, [&](const herald::wire_message&) { held.handle(); });
  std::vector<std::thread> publishers;
  for (int i = 0; i < 4; ++i) publishers.emplace_back([&] { t.publish("jobs", bytes("x")); });
  CHECK(held.wait_for([&] { return held.inside == 4; }));
  {
    std::lock_guard lock(held.mutex);
    held.open = true;
  }
  held.changed.notify_all();
  for (auto& p : publishers) p.join();
  CHECK(held.handled == 4);
}

TEST_CASE("max_in_flight: a handler publishing to its own full subscription gets would_deadlock",
          "[transport][inproc]") {
  herald::inproc_transport t;
  herald::subscribe_options opts;
  opts.max_in_flight = 1;
  int depth = 0;
  bool refused = false;
  auto s = t.subscribe("loop", opts, [&](const herald::wire_message&) {
    if (++depth > 1) return;
    try {
      t.publish("loop", bytes("again"));
    } catch (const herald::error& e) {
      refused = e.code() == herald::errc::would_deadlock;
    }
  });
  t.publish("loop", bytes("first"));
  CHECK(refused);
  CHECK(depth == 1);
}

TEST_CASE("max_in_flight: unsubscribing wakes the publishers waiting for a slot",
          "[transport][inproc]") {
  herald_test::failure_recorder failures;
  herald::inproc_transport t({.max_deliver = 3, .failures = &failures});
  held_handlers held;
  herald::subscribe_options opts;
  opts.max_in_flight = 1;
  auto s = t.subscribe("jobs", opts, [&](const herald::wire_message&) { held.handle(); });
  std::thread first([&] { t.publish("jobs", bytes("first")); });
  REQUIRE(held.wait_for([&] { return held.inside == 1; }));
  std::thread second([&] { t.publish("jobs", bytes("second")); });  // waits for the slot
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::thread leaver([&] { s.reset(); });
  leaver.join();
  second.join();  // woke up: the subscriber it waited for has left
  {
    std::lock_guard lock(held.mutex);
    held.open = true;
  }
  held.changed.notify_all();
  first.join();
  CHECK(held.handled == 1);
  CHECK(failures.all().empty());  // a fan-out subscriber that left is owed nothing
}
