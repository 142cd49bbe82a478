// SPDX-License-Identifier: MIT
// The queue store conformance suite: every queue store runs it. A new store
// is done when it passes.
#include <atomic>
#include <chrono>
#include <herald/queue/queue.hpp>
#include <herald/queue/worker.hpp>
#include <herald/store/field_limits.hpp>
#include <herald/testing/manual_clock.hpp>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support/failure_recorder.hpp"
#include "support/queue_fixtures.hpp"
#include "support/refusal.hpp"

using namespace std::chrono_literals;
using herald_test::job;

namespace {

template <class Fixture>
struct bench {
  Fixture fixture;
  herald_test::failure_recorder failures;
  herald::manual_clock clock;
  herald::queue<job, decltype(Fixture::store)> jobs{
      fixture.store, "jobs", herald::queue_options{.source = "/test", .clock = clock}};

  herald::worker_options exact(std::uint32_t max_attempts = 3) {
    herald::worker_options o;
    o.visibility_timeout = 30s;
    o.retry.base = 1s;
    o.retry.factor = 2;
    o.retry.cap = 1min;
    o.retry.max_attempts = max_attempts;
    o.retry.jitter = false;
    o.failures = &failures;
    return o;
  }
  ~bench() {
    for (const auto& trouble : failures.troubles()) FAIL_CHECK(trouble);
  }
};

}  // namespace

TEMPLATE_TEST_CASE("queue: what is acked never comes again", "[queue][conformance]", QUEUE_STORES) {
  bench<TestType> b;
  for (int i = 0; i < 5; ++i) b.jobs.send(job{i, ""});
  std::vector<int> handled;
  herald::worker w(
      b.jobs, [&](const job& j) { handled.push_back(j.n); }, b.exact());
  while (w.run_once(b.clock.now()) > 0) {
  }
  CHECK(handled == std::vector<int>{0, 1, 2, 3, 4});
  b.clock.advance(1h);  // far past every lease
  CHECK(w.run_once(b.clock.now()) == 0);
  auto s = b.jobs.stats();
  CHECK(s.depth + s.in_flight + s.delayed + s.dead_lettered == 0);
}

TEMPLATE_TEST_CASE("queue: an expired lease redelivers; nothing unacked is lost",
                   "[queue][conformance]", QUEUE_STORES) {
  bench<TestType> b;
  b.jobs.send(job{1, ""});
  auto& store = b.fixture.store;
  auto first = store.lease("jobs", 10, b.clock.now(), 30s);
  REQUIRE(first.size() == 1);
  CHECK(first[0].attempts == 1);
  CHECK(store.lease("jobs", 10, b.clock.now() + 29s, 30s).empty());  // still leased
  b.clock.advance(30s);
  auto second = store.lease("jobs", 10, b.clock.now(), 30s);
  REQUIRE(second.size() == 1);
  CHECK(second[0].id == first[0].id);
  CHECK(second[0].attempts == 2);
  CHECK(second[0].first_attempt_at == first[0].first_attempt_at);
  // The first holder lost its lease: it may no longer settle the message.
  CHECK_FALSE(store.ack("jobs", first[0]));
  CHECK_FALSE(store.extend("jobs", first[0], b.clock.now() + 1h));
  CHECK(store.ack("jobs", second[0]));
  CHECK_FALSE(store.ack("jobs", second[0]));
}

TEMPLATE_TEST_CASE("queue: a lease is extended by its holder", "[queue][conformance]",
                   QUEUE_STORES) {
  bench<TestType> b;
  b.jobs.send(job{1, ""});
  auto& store = b.fixture.store;
  auto leased = store.lease("jobs", 1, b.clock.now(), 30s);
  REQUIRE(leased.size() == 1);
  CHECK(store.extend("jobs", leased[0], b.clock.now() + 90s));
  CHECK(store.lease("jobs", 1, b.clock.now() + 60s, 30s).empty());
  CHECK(store.lease("jobs", 1, b.clock.now() + 90s, 30s).size() == 1);
}

TEMPLATE_TEST_CASE(
    "queue: extending never shortens a lease, so a lagging clock cannot hand a "
    "running message to another worker",
    "[queue][conformance][reliability]", QUEUE_STORES) {
  bench<TestType> b;
  b.jobs.send(job{1, ""});
  auto& store = b.fixture.store;
  auto leased = store.lease("jobs", 1, b.clock.now(), 30s);
  REQUIRE(leased.size() == 1);
  // A heartbeat from a clock 25 s behind: the lease still ends at +30 s.
  CHECK(store.extend("jobs", leased[0], b.clock.now() + 5s));
  CHECK(store.lease("jobs", 1, b.clock.now() + 29s, 30s).empty());
  CHECK(store.lease("jobs", 1, b.clock.now() + 30s, 30s).size() == 1);
}

TEMPLATE_TEST_CASE("queue: a delay of centuries or duration::max() stays in the future",
                   "[queue][conformance][reliability]", QUEUE_STORES) {
  bench<TestType> b;
  herald::send_options forever;
  forever.delay = herald::duration::max();
  b.jobs.send(job{1, ""}, forever);
  herald::send_options centuries;
  centuries.delay = std::chrono::hours(24 * 365 * 240);
  b.jobs.send(job{2, ""}, centuries);
  herald::worker w(
      b.jobs, [](const job&) { FAIL("a parked message was delivered"); }, b.exact());
  CHECK(w.run_once(b.clock.now()) == 0);
  CHECK(w.run_once(b.clock.now() + std::chrono::hours(24 * 365 * 100)) == 0);
  CHECK(b.jobs.stats().delayed == 2);
}

TEMPLATE_TEST_CASE(
    "queue: visibility_timeout and the deduplication window of duration::max() "
    "do not overflow",
    "[queue][conformance][reliability]", QUEUE_STORES) {
  TestType fixture;
  herald::manual_clock clock;
  herald::queue<job, decltype(fixture.store)> jobs(
      fixture.store, "jobs",
      herald::queue_options{
          .source = "/test", .deduplication_window = herald::duration::max(), .clock = clock});
  herald::send_options once;
  once.deduplication_id = "once";
  CHECK_FALSE(jobs.send(job{1, ""}, once).duplicate);
  CHECK(jobs.send(job{1, ""}, once).duplicate);  // remembered, not expired by wrapping
  auto leased = fixture.store.lease("jobs", 1, clock.now(), herald::duration::max());
  REQUIRE(leased.size() == 1);
  CHECK(leased[0].lease_until > clock.now());
  CHECK(fixture.store.lease("jobs", 1, clock.now() + std::chrono::hours(24 * 365), 30s).empty());
}

TEMPLATE_TEST_CASE("queue: retry.cap = duration::max() backs off forever, never negatively",
                   "[queue][conformance][reliability]", QUEUE_STORES) {
  bench<TestType> b;
  auto options = b.exact(100);
  options.retry.cap = herald::duration::max();
  options.retry.base = 1s;
  for (std::uint32_t failures : {1u, 35u, 36u, 64u, 100u}) {
    CHECK(options.retry.ceiling(failures) > herald::duration::zero());
  }
  b.jobs.send(job{1, ""});
  int calls = 0;
  herald::worker w(
      b.jobs,
      [&](const job&) {
        ++calls;
        throw std::runtime_error("down");
      },
      options);
  herald::time_point now = b.clock.now();
  // Each retry is due later than the last: no hot loop, whatever the attempt.
  for (int i = 0; i < 40; ++i) {
    auto leased = b.fixture.store.lease("jobs", 1, herald::time_point::max() - 1h, 30s);
    if (leased.empty()) break;
    CHECK(b.fixture.store.retry("jobs", leased[0], now, "forced"));
  }
  CHECK(w.run_once(now) == 1);  // attempt 41 fails; its retry is scheduled after now
  CHECK(w.run_once(now) == 0);
  CHECK(calls == 1);
}

TEMPLATE_TEST_CASE(
    "queue: send refuses what its workers could not decode; raised limits carry "
    "it to the handler",
    "[queue][conformance][limits][reliability]", QUEUE_STORES) {
  bench<TestType> b;
  const std::string huge(2 << 20, 'x');
  try {
    b.jobs.send(job{1, huge});
    FAIL("a queue accepted what its worker must dead-letter");
  } catch (const herald::error& e) {
    CHECK(e.code() == herald::errc::limit_exceeded);
    CHECK_THAT(e.what(), herald_test::contains("decode_limits::max_bytes (1048576)"));
  }
  CHECK(b.jobs.stats().depth == 0);
  herald::queue_options roomy{.source = "/test", .clock = b.clock};
  roomy.limits.max_bytes = 4 << 20;
  herald::queue<job, decltype(b.fixture.store)> big(b.fixture.store, "big", roomy);
  big.send(job{2, huge});
  std::size_t seen = 0;
  herald::worker w(
      big, [&](const job& j) { seen = j.group.size(); }, b.exact());
  CHECK(w.run_once(b.clock.now()) == 1);
  CHECK(seen == huge.size());
  CHECK(big.stats().dead_lettered == 0);
}

TEMPLATE_TEST_CASE("queue: delay", "[queue][conformance]", QUEUE_STORES) {
  bench<TestType> b;
  herald::send_options later;
  later.delay = 10s;
  b.jobs.send(job{1, ""}, later);
  b.jobs.send(job{2, ""});
  std::vector<int> handled;
  herald::worker w(
      b.jobs, [&](const job& j) { handled.push_back(j.n); }, b.exact());
  CHECK(w.run_once(b.clock.now()) == 1);
  CHECK(b.jobs.stats().delayed == 1);
  CHECK(w.run_once(b.clock.now() + 9999ms) == 0);
  CHECK(w.run_once(b.clock.now() + 10s) == 1);
  CHECK(handled == std::vector<int>{2, 1});
}

TEMPLATE_TEST_CASE("queue: deduplication window", "[queue][conformance]", QUEUE_STORES) {
  bench<TestType> b;
  herald::send_options once;
  once.deduplication_id = "order-7";
  auto first = b.jobs.send(job{1, ""}, once);
  CHECK_FALSE(first.duplicate);
  b.clock.advance(4min);
  auto second = b.jobs.send(job{2, ""}, once);
  CHECK(second.duplicate);
  CHECK(second.id == first.id);
  CHECK(b.jobs.stats().depth == 1);
  b.clock.advance(1min);  // the window (5 min from the first send) has passed
  auto third = b.jobs.send(job{3, ""}, once);
  CHECK_FALSE(third.duplicate);
  CHECK(b.jobs.stats().depth == 2);
  herald::send_options other;
  other.deduplication_id = "order-8";
  CHECK_FALSE(b.jobs.send(job{4, ""}, other).duplicate);
}

TEMPLATE_TEST_CASE("queue: a send in a transaction that rolls back leaves nothing",
                   "[queue][conformance]", QUEUE_STORES) {
  bench<TestType> b;
  {
    auto tx = b.fixture.store.begin();
    b.jobs.send(tx, job{1, ""});
  }  // not committed
  CHECK(b.jobs.stats().depth == 0);
  {
    auto tx = b.fixture.store.begin();
    herald::send_options once;
    once.deduplication_id = "d";
    b.jobs.send(tx, job{2, ""}, once);
    tx.commit();
  }
  CHECK(b.jobs.stats().depth == 1);
}

TEMPLATE_TEST_CASE("queue: the backoff schedule, at exact times", "[queue][conformance]",
                   QUEUE_STORES) {
  bench<TestType> b;
  b.jobs.send(job{1, ""});
  const auto t0 = b.clock.now();
  std::vector<herald::time_point> attempts;
  std::vector<herald::time_point> retry_at;
  auto options = b.exact(4);
  herald::worker w(
      b.jobs,
      [&](const job&) {
        attempts.push_back(b.clock.now());
        throw std::runtime_error("printer on fire");
      },
      options);
  // Failures 1, 2, 3 wait 1 s, 2 s, 4 s; the 4th attempt is the last.
  const std::vector<herald::time_point> due{t0, t0 + 1s, t0 + 3s, t0 + 7s};
  for (auto at : due) {
    CHECK(w.run_once(at - 1ms) == 0);
    b.clock.advance_to(at);
    CHECK(w.run_once(at) == 1);
  }
  CHECK(attempts == due);
  for (const auto& f : b.failures.of(herald::failure_kind::retry_scheduled)) {
    CHECK(f.code == herald::errc::handler_failed);
    CHECK(f.text == "printer on fire");
    retry_at.push_back(*f.retry_at);
  }
  CHECK(retry_at == std::vector<herald::time_point>{t0 + 1s, t0 + 3s, t0 + 7s});
  auto buried = b.failures.of(herald::failure_kind::dead_lettered);
  REQUIRE(buried.size() == 1);
  CHECK(buried[0].attempt == 4);
  CHECK(buried[0].part == "worker");
  CHECK(buried[0].name == "jobs");
  CHECK(w.run_once(t0 + 1h) == 0);
  auto dead = b.jobs.dead_letters();
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].attempts == 4);
  CHECK(dead[0].reason == "failed 4 times; last error: printer on fire");
  CHECK(dead[0].first_attempt_at == t0);
  CHECK(dead[0].last_attempt_at == t0 + 7s);
  CHECK(dead[0].dead_lettered_at == t0 + 7s);
}

TEMPLATE_TEST_CASE("queue: full jitter stays within the exponential ceiling",
                   "[queue][conformance]", QUEUE_STORES) {
  bench<TestType> b;
  b.jobs.send(job{1, ""});
  auto options = b.exact(10);
  options.retry.jitter = true;
  options.seed = 42;
  std::vector<herald::duration> waits;
  herald::time_point now = b.clock.now();
  herald::worker w(
      b.jobs, [](const job&) { throw std::runtime_error("no"); }, options);
  for (int i = 0; i < 6; ++i) {
    REQUIRE(w.run_once(now) == 1);
    waits.push_back(*b.failures.all().back().retry_at - now);
    now += 1h;
  }
  REQUIRE(waits.size() == 6);
  bool any_below = false;
  for (std::size_t i = 0; i < waits.size(); ++i) {
    auto ceiling = options.retry.ceiling(static_cast<std::uint32_t>(i + 1));
    CHECK(waits[i] >= herald::duration::zero());
    CHECK(waits[i] <= ceiling);
    any_below = any_below || waits[i] < ceiling;
  }
  CHECK(any_below);
}

TEMPLATE_TEST_CASE("queue: permanent_failure and undecodable messages are dead-lettered at once",
                   "[queue][conformance]", QUEUE_STORES) {
  bench<TestType> b;
  b.jobs.send(job{1, ""});
  auto tx = b.fixture.store.begin();
  herald::queue_message_draft garbage{"bad-1", R"({"specversion":"1.0","id":"bad-1"})", "", "",
                                      b.clock.now()};
  b.fixture.store.enqueue(tx, "jobs", std::span(&garbage, 1), b.clock.now(), 5min);
  tx.commit();
  int calls = 0;
  herald::worker w(
      b.jobs,
      [&](const job&) {
        ++calls;
        throw herald::permanent_failure("customer 7 does not exist");
      },
      b.exact());
  CHECK(w.run_once(b.clock.now()) == 1);
  CHECK(w.run_once(b.clock.now()) == 1);
  CHECK(calls == 1);
  auto dead = b.jobs.dead_letters();
  REQUIRE(dead.size() == 2);
  CHECK(dead[0].reason == "permanent failure: customer 7 does not exist");
  CHECK(dead[0].attempts == 1);
  CHECK_THAT(dead[1].reason, herald_test::starts_with("does not decode: herald: "));
  CHECK_THAT(dead[1].reason, herald_test::contains("source"));
  CHECK(dead[1].id == "bad-1");
}

TEMPLATE_TEST_CASE("queue: redrive resets attempts; purge empties the dead-letter queue",
                   "[queue][conformance]", QUEUE_STORES) {
  bench<TestType> b;
  for (int i = 0; i < 3; ++i) b.jobs.send(job{i, ""});
  bool broken = true;
  std::vector<int> done;
  herald::worker w(
      b.jobs,
      [&](const job& j) {
        if (broken) throw herald::permanent_failure("down");
        done.push_back(j.n);
      },
      b.exact());
  while (w.run_once(b.clock.now()) > 0) {
  }
  auto dead = b.jobs.dead_letters();
  REQUIRE(dead.size() == 3);
  CHECK(b.jobs.stats().dead_lettered == 3);
  broken = false;
  CHECK(b.jobs.redrive(dead[1].seq));
  CHECK_FALSE(b.jobs.redrive(dead[1].seq));  // already moved
  std::vector<herald::leased_message> again;
  auto leased = b.fixture.store.lease("jobs", 10, b.clock.now(), 30s);
  REQUIRE(leased.size() == 1);
  CHECK(leased[0].attempts == 1);
  CHECK(leased[0].id == dead[1].id);
  CHECK(b.fixture.store.ack("jobs", leased[0]));
  CHECK(b.jobs.redrive_all() == 2);
  while (w.run_once(b.clock.now()) > 0) {
  }
  CHECK(done == std::vector<int>{0, 2});
  CHECK(b.jobs.dead_letters().empty());
  broken = true;
  b.jobs.send(job{5, ""});
  while (w.run_once(b.clock.now()) > 0) {
  }
  CHECK(b.jobs.purge_dead_letters() == 1);
  CHECK(b.jobs.dead_letters().empty());
  CHECK(b.jobs.stats().dead_lettered == 0);
}

TEMPLATE_TEST_CASE("queue: a message whose holders keep dying is dead-lettered after max attempts",
                   "[queue][conformance]", QUEUE_STORES) {
  bench<TestType> b;
  b.jobs.send(job{1, ""});
  auto& store = b.fixture.store;
  for (int i = 0; i < 3; ++i) {  // three holders crash without settling it
    REQUIRE(store.lease("jobs", 1, b.clock.now(), 30s).size() == 1);
    b.clock.advance(30s);
  }
  int calls = 0;
  herald::worker w(
      b.jobs, [&](const job&) { ++calls; }, b.exact(3));
  CHECK(w.run_once(b.clock.now()) == 1);
  CHECK(calls == 0);
  auto dead = b.jobs.dead_letters();
  REQUIRE(dead.size() == 1);
  CHECK_THAT(dead[0].reason, herald_test::starts_with("leased 3 times without finishing"));
}

TEMPLATE_TEST_CASE("queue: stats", "[queue][conformance]", QUEUE_STORES) {
  bench<TestType> b;
  const auto t0 = b.clock.now();
  b.jobs.send(job{1, ""});
  b.clock.advance(5s);
  b.jobs.send(job{2, ""});
  herald::send_options later;
  later.delay = 1min;
  b.jobs.send(job{3, ""}, later);
  b.fixture.store.lease("jobs", 1, b.clock.now(), 30s);
  b.clock.advance(5s);
  auto s = b.jobs.stats();
  CHECK(s.depth == 1);
  CHECK(s.in_flight == 1);
  CHECK(s.delayed == 1);
  CHECK(s.dead_lettered == 0);
  CHECK(s.oldest_age == b.clock.now() - t0);
  CHECK(b.fixture.store.stats("nothing-here", b.clock.now()).depth == 0);
}

TEMPLATE_TEST_CASE("queue: send_batch keeps send order and refuses a deduplication id",
                   "[queue][conformance]", QUEUE_STORES) {
  bench<TestType> b;
  std::vector<job> batch;
  for (int i = 0; i < 100; ++i) batch.push_back(job{i, ""});
  auto results = b.jobs.send_batch(batch);
  CHECK(results.size() == 100);
  herald::send_options bad;
  bad.deduplication_id = "x";
  CHECK_THROWS_AS(b.jobs.send_batch(batch, bad), herald::error);
  std::vector<int> handled;
  auto options = b.exact();
  options.concurrency = 16;
  herald::worker w(
      b.jobs, [&](const job& j) { handled.push_back(j.n); }, options);
  while (w.run_once(b.clock.now()) > 0) {
  }
  REQUIRE(handled.size() == 100);
  for (int i = 0; i < 100; ++i) CHECK(handled[static_cast<std::size_t>(i)] == i);
}

TEMPLATE_TEST_CASE("queue: a group is handled one at a time in send order, even while retrying",
                   "[queue][conformance]", QUEUE_STORES) {
  bench<TestType> b;
  herald::send_options in_a;
  in_a.group = "a";
  herald::send_options in_b;
  in_b.group = "b";
  for (int i = 0; i < 3; ++i) {
    b.jobs.send(job{i, "a"}, in_a);
    b.jobs.send(job{10 + i, "b"}, in_b);
  }
  b.jobs.send(job{100, ""});
  auto& store = b.fixture.store;
  auto leased = store.lease("jobs", 10, b.clock.now(), 30s);
  REQUIRE(leased.size() == 3);  // the head of each group and the ungrouped one
  CHECK(leased[0].group == "a");
  CHECK(leased[1].group == "b");
  CHECK(leased[2].group.empty());
  CHECK(store.lease("jobs", 10, b.clock.now(), 30s).empty());
  // The head of "a" fails and waits: "a" waits behind it; "b" moves on.
  CHECK(store.retry("jobs", leased[0], b.clock.now() + 10s, "later"));
  CHECK(store.ack("jobs", leased[1]));
  auto next = store.lease("jobs", 10, b.clock.now(), 30s);
  REQUIRE(next.size() == 1);
  CHECK(next[0].group == "b");
  auto again = store.lease("jobs", 10, b.clock.now() + 10s, 30s);
  REQUIRE(again.size() == 1);
  CHECK(again[0].id == leased[0].id);
}

TEMPLATE_TEST_CASE("queue: group order holds under concurrency, with two workers",
                   "[queue][conformance][threads]", QUEUE_STORES) {
  TestType fixture;
  herald::queue<job, decltype(fixture.store)> jobs(fixture.store, "jobs");
  constexpr int groups = 4;
  constexpr int per_group = 40;
  for (int i = 0; i < per_group; ++i) {
    for (int g = 0; g < groups; ++g) {
      herald::send_options o;
      o.group = "g" + std::to_string(g);
      jobs.send(job{i, o.group}, o);
    }
  }
  std::mutex mutex;
  std::map<std::string, int> last;
  std::map<std::string, int> running;
  int violations = 0;
  std::atomic<int> handled{0};
  auto handler = [&](const job& j) {
    {
      std::lock_guard lock(mutex);
      if (running[j.group]++ != 0) ++violations;
      auto it = last.find(j.group);
      if (it != last.end() && it->second + 1 != j.n) ++violations;
      last[j.group] = j.n;
    }
    std::this_thread::sleep_for(100us);
    {
      std::lock_guard lock(mutex);
      --running[j.group];
    }
    handled.fetch_add(1);
  };
  herald::worker_options options;
  options.concurrency = 3;
  options.poll_interval = 1ms;
  herald::worker first(jobs, handler, options);
  herald::worker second(jobs, handler, options);
  first.start();
  second.start();
  for (int i = 0; i < 2000 && handled.load() < groups * per_group; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  first.stop();
  second.stop();
  CHECK(handled.load() == groups * per_group);
  CHECK(violations == 0);
}

TEMPLATE_TEST_CASE("queue: the heartbeat keeps a long handler's message from a second worker",
                   "[queue][conformance][threads]", QUEUE_STORES) {
  TestType fixture;
  herald::queue<job, decltype(fixture.store)> jobs(fixture.store, "jobs");
  jobs.send(job{1, ""});
  std::atomic<int> calls{0};
  herald_test::failure_recorder failures;
  herald::worker_options options;
  options.visibility_timeout = 150ms;  // the handler takes three times as long
  options.heartbeat = 30ms;
  options.poll_interval = 5ms;
  options.failures = &failures;
  auto slow = [&](const job&) {
    calls.fetch_add(1);
    std::this_thread::sleep_for(450ms);
  };
  herald::worker first(jobs, slow, options);
  herald::worker second(jobs, slow, options);
  first.start();
  second.start();
  for (int i = 0; i < 400 && jobs.stats().depth + jobs.stats().in_flight > 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  first.stop();
  second.stop();
  CHECK(calls.load() == 1);
  CHECK(failures.all().empty());
}

TEMPLATE_TEST_CASE("queue: a lease that ended by acking is never reported as lost",
                   "[queue][conformance][threads][reliability]", QUEUE_STORES) {
  TestType fixture;
  herald::queue<job, decltype(fixture.store)> jobs(fixture.store, "jobs");
  constexpr int count = 600;
  for (int i = 0; i < count; ++i) jobs.send(job{i, ""});
  std::atomic<int> handled{0};
  herald_test::failure_recorder failures;
  herald::worker_options options;
  options.visibility_timeout = 30s;
  options.heartbeat = std::chrono::microseconds(50);  // beats constantly, racing every ack
  options.poll_interval = 1ms;
  options.concurrency = 2;
  options.failures = &failures;
  herald::worker w(
      jobs, [&](const job&) { handled.fetch_add(1); }, options);
  w.start();
  for (int i = 0; i < 3000 && handled.load() < count; ++i) std::this_thread::sleep_for(10ms);
  w.stop();
  CHECK(handled.load() == count);
  CHECK(failures.all().empty());
}

TEMPLATE_TEST_CASE("queue: a failure sink that throws on a worker thread does not end the process",
                   "[queue][conformance][threads][reliability]", QUEUE_STORES) {
  TestType fixture;
  herald::queue<job, decltype(fixture.store)> jobs(fixture.store, "jobs");
  for (int i = 0; i < 5; ++i) jobs.send(job{i, ""});
  std::atomic<int> attempts{0};
  herald::worker_options options;
  options.poll_interval = 1ms;
  options.retry.base = 1ms;
  options.retry.cap = 1ms;
  options.retry.max_attempts = 2;
  herald::failure_callback throwing(
      [](const herald::failure&) { throw std::runtime_error("the sink"); });
  options.failures = &throwing;
  herald::worker w(
      jobs,
      [&](const job&) {
        attempts.fetch_add(1);
        throw std::runtime_error("handler");
      },
      options);
  w.start();
  for (int i = 0; i < 3000 && jobs.stats().dead_lettered < 5; ++i) std::this_thread::sleep_for(5ms);
  w.stop();
  CHECK(jobs.stats().dead_lettered == 5);  // still working after every callback threw
  CHECK(attempts.load() == 10);
}

TEMPLATE_TEST_CASE("queue: start/stop drains the handler in flight",
                   "[queue][conformance][threads]", QUEUE_STORES) {
  TestType fixture;
  herald::queue<job, decltype(fixture.store)> jobs(fixture.store, "jobs");
  jobs.send(job{1, ""});
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  herald::worker_options options;
  options.poll_interval = 1ms;
  herald::worker w(
      jobs,
      [&](const job&) {
        started = true;
        std::this_thread::sleep_for(100ms);
        finished = true;
      },
      options);
  w.start();
  while (!started.load()) std::this_thread::sleep_for(1ms);
  w.stop();
  CHECK(finished.load());
  auto s = jobs.stats();
  CHECK(s.depth + s.in_flight == 0);  // acked before stop returned
}

TEMPLATE_TEST_CASE("queue: a send from a handler is caused by the handled message",
                   "[queue][conformance]", QUEUE_STORES) {
  bench<TestType> b;
  auto first = b.jobs.send(job{1, ""});
  herald::queue<job, decltype(b.fixture.store)> follow_ups(
      b.fixture.store, "follow-ups", herald::queue_options{.source = "/test", .clock = b.clock});
  herald::worker w(
      b.jobs,
      [&](const job& j) {
        follow_ups.send(job{j.n + 1, ""});
      },
      b.exact());
  CHECK(w.run_once(b.clock.now()) == 1);
  auto leased = b.fixture.store.lease("follow-ups", 1, b.clock.now() + 1h, 30s);
  REQUIRE(leased.size() == 1);
  auto m = herald::decode<job>(leased[0].body);
  CHECK(m.causationid == first.id);
  CHECK(m.correlationid == first.id);
}

namespace {

herald::queue_message_draft draft(std::string id, std::string group = "",
                                  std::string deduplication_id = "") {
  return {std::move(id), "{}", std::move(group), std::move(deduplication_id), {}};
}

// Runs enqueue() with `drafts` and expects a refusal naming `field`.
template <class Store>
void expect_refused(Store& store, std::string_view queue,
                    const std::vector<herald::queue_message_draft>& drafts,
                    const std::string& field) {
  auto tx = store.begin();
  herald_test::check_invalid(
      [&] { store.enqueue(tx, queue, drafts, herald::time_point{}, std::chrono::minutes(5)); },
      field);
  tx.commit();  // what was refused wrote nothing, not even the drafts before it
}

// `n` bytes of printable ASCII that do not compress (a B-tree index row on
// PostgreSQL holds about 2.7 KB after compression).
std::string incompressible(std::size_t n) {
  std::string out;
  std::uint64_t x = 88172645463325252ull;
  while (out.size() < n) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out += static_cast<char>('!' + x % 90);
  }
  return out;
}

}  // namespace

TEMPLATE_TEST_CASE(
    "queue: a NUL in a queue name, message id, group or deduplication id is refused on every "
    "store, so distinct values never collide, and nothing is written",
    "[queue][conformance][reliability]", QUEUE_STORES) {
  bench<TestType> b;
  auto& store = b.fixture.store;
  const std::string nul("x\0y", 3);
  // A valid draft first: the refusal comes before anything is written.
  expect_refused(store, "jobs", {draft("ok"), draft("id", "", nul)}, "deduplication id");
  expect_refused(store, "jobs", {draft("ok"), draft("id", nul)}, "group");
  expect_refused(store, "jobs", {draft("ok"), draft(nul)}, "message id");
  expect_refused(store, "jobs" + nul, {draft("ok")}, "queue name");
  auto body = draft("id");
  body.body = "{\"a\":\"" + nul + "\"}";
  expect_refused(store, "jobs", {draft("ok"), body}, "message body");
  CHECK(b.jobs.stats().depth == 0);
  // "x" and "x\0y" are distinct: the second is refused, not taken for a duplicate.
  herald::send_options first, second;
  first.deduplication_id = "x";
  second.deduplication_id = nul;
  CHECK_FALSE(b.jobs.send(job{1, ""}, first).duplicate);
  CHECK_THROWS_AS(b.jobs.send(job{2, ""}, second), herald::error);
  CHECK_THROWS_AS((herald::queue<job, decltype(b.fixture.store)>(store, "jobs" + nul)),
                  herald::error);
  CHECK(b.jobs.stats().depth == 1);
}

TEMPLATE_TEST_CASE(
    "queue: names and keys longer than herald::field_limits are refused on every store before "
    "anything is written; at the limit they are kept",
    "[queue][conformance][reliability]", QUEUE_STORES) {
  namespace limits = herald::field_limits;
  bench<TestType> b;
  auto& store = b.fixture.store;
  const auto at_limit = [](std::size_t n) { return incompressible(n); };
  expect_refused(store, "jobs",
                 {draft("ok"), draft("id", "", at_limit(limits::deduplication_id + 1))},
                 "deduplication id");
  expect_refused(store, "jobs", {draft("ok"), draft("id", "", incompressible(4000))},
                 "deduplication id");
  expect_refused(store, "jobs", {draft("ok"), draft("id", at_limit(limits::group + 1))}, "group");
  expect_refused(store, "jobs", {draft("ok"), draft(at_limit(limits::message_id + 1))},
                 "message id");
  expect_refused(store, at_limit(limits::queue_name + 1), {draft("ok")}, "queue name");
  CHECK_THROWS_AS(
      (herald::queue<job, decltype(b.fixture.store)>(store, at_limit(limits::queue_name + 1))),
      herald::error);
  CHECK(b.jobs.stats().depth == 0);
  // At the limit, every field of a send is kept, on every backend.
  const std::string queue = at_limit(limits::queue_name);
  const std::vector<herald::queue_message_draft> longest = {draft(
      at_limit(limits::message_id), at_limit(limits::group), at_limit(limits::deduplication_id))};
  {
    auto tx = store.begin();
    store.enqueue(tx, queue, longest, b.clock.now(), std::chrono::minutes(5));
    tx.commit();
  }
  auto leased = store.lease(queue, 10, b.clock.now(), 30s);
  REQUIRE(leased.size() == 1);
  CHECK(leased[0].id == longest[0].id);
  CHECK(leased[0].group == longest[0].group);
  CHECK(store.ack(queue, leased[0]));
}

TEMPLATE_TEST_CASE(
    "queue: a transaction used from a thread other than the one that began it is refused "
    "there, changes nothing, and still commits on its own thread",
    "[queue][conformance][transaction][reliability]", QUEUE_STORES) {
  bench<TestType> b;
  auto& store = b.fixture.store;
  auto tx = store.begin();
  b.jobs.send(tx, job{1, ""});
  std::vector<std::string> told;  // what each use on the other thread was told
  std::thread other([&] {
    auto attempt = [&](auto&& use) {
      try {
        use();
        told.emplace_back("accepted");
      } catch (const herald::error& e) {
        told.emplace_back(e.code() == herald::errc::invalid_argument ? e.what() : "another code");
      }
    };
    attempt([&] { b.jobs.send(tx, job{2, ""}); });
    const auto d = draft("direct");
    attempt([&] { store.enqueue(tx, "jobs", std::span(&d, 1), b.clock.now(), 5min); });
    attempt([&] { tx.commit(); });
  });
  other.join();
  REQUIRE(told.size() == 3);  // send, enqueue, commit
  for (const auto& t : told)
    CHECK_THAT(t, Catch::Contains("thread other than the one that began it"));
  tx.commit();  // on its own thread: what it holds commits, the refused sends are not in it
  auto leased = store.lease("jobs", 10, b.clock.now(), 30s);
  REQUIRE(leased.size() == 1);
  CHECK(herald::decode<job>(leased[0].body).data.n == 1);
}
