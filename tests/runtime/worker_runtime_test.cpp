// SPDX-License-Identifier: MIT
// The worker as a runtime part: woken by sends, sharing one executor,
// stopping by its deadline, and the delivery context its handlers get.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <herald/bus/thread_pool.hpp>
#include <herald/queue/queue.hpp>
#include <herald/queue/worker.hpp>
#include <herald/testing/manual_clock.hpp>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support/failure_recorder.hpp"
#include "support/queue_fixtures.hpp"
#include "support/signal_box.hpp"

using namespace std::chrono_literals;
using herald_test::job;
using herald_test::signal_box;

static_assert(herald::part<herald::worker<job, herald::memory_store>>);

TEMPLATE_TEST_CASE("worker: a send wakes an idle worker at once, with an hour between polls",
                   "[runtime][worker][threads]", QUEUE_STORES) {
  TestType fixture;
  herald::queue<job, decltype(fixture.store)> jobs(fixture.store, "jobs");
  herald_test::failure_recorder failures;
  signal_box handled;
  herald::worker_options options;
  options.poll_interval = 1h;
  options.failures = &failures;
  herald::worker w(
      jobs, [&](const job&) { handled.bump(); }, options);
  jobs.send(job{1, ""});
  w.start();  // the first lease, at start, finds job 1
  REQUIRE(handled.wait_for_count(1));
  jobs.send(job{2, ""});  // the worker is idle now, its next poll an hour away
  REQUIRE(handled.wait_for_count(2));
  jobs.send_batch(std::vector<job>{{3, ""}, {4, ""}});
  REQUIRE(handled.wait_for_count(4));
  CHECK(w.stop().in_time);
  CHECK(failures.all().empty());
}

TEMPLATE_TEST_CASE("worker: many workers share one executor and its threads",
                   "[runtime][worker][threads]", QUEUE_STORES) {
  TestType fixture;
  herald::thread_pool pool(2);
  std::vector<std::unique_ptr<herald::queue<job, decltype(fixture.store)>>> queues;
  std::vector<std::unique_ptr<herald::worker<job, decltype(fixture.store)>>> workers;
  std::mutex mutex;
  std::set<std::thread::id> threads;
  signal_box handled;
  constexpr int queue_count = 5, per_queue = 40;
  for (int q = 0; q < queue_count; ++q) {
    queues.push_back(std::make_unique<herald::queue<job, decltype(fixture.store)>>(
        fixture.store, "jobs-" + std::to_string(q)));
    herald::worker_options options;
    options.concurrency = 2;
    options.handler_executor = &pool;
    workers.push_back(std::make_unique<herald::worker<job, decltype(fixture.store)>>(
        *queues.back(),
        [&](const job&) {
          {
            std::lock_guard lock(mutex);
            threads.insert(std::this_thread::get_id());
          }
          handled.bump();
        },
        options));
  }
  for (auto& w : workers) w->start();
  for (auto& q : queues) {
    for (int i = 0; i < per_queue; ++i) q->send(job{i, ""});
  }
  REQUIRE(handled.wait_for_count(queue_count * per_queue));
  for (auto& w : workers) CHECK(w->stop().in_time);
  CHECK(threads.size() <= 2);  // the pool's, and no thread of the workers' own
  for (auto& q : queues) CHECK(q->stats().depth + q->stats().in_flight == 0);
}

TEMPLATE_TEST_CASE("worker: stop(deadline) returns in time past a handler that ignores its stop",
                   "[runtime][worker][threads]", QUEUE_STORES) {
  TestType fixture;
  herald::manual_clock clock;
  herald::queue<job, decltype(fixture.store)> jobs(fixture.store, "jobs", {.clock = clock});
  herald_test::failure_recorder failures;
  signal_box started;
  std::mutex gate_mutex;
  std::condition_variable gate;
  bool release = false;
  std::atomic<bool> finished{false};
  const std::string id = jobs.send(job{1, ""}).id;
  {
    herald::worker_options options;
    options.failures = &failures;
    herald::worker w(
        jobs,
        [&](const job&) {
          started.bump();
          {
            std::unique_lock lock(gate_mutex);
            gate.wait(lock, [&] { return release; });  // deaf to the stop token
          }
          finished = true;  // the last thing it touches of this test
        },
        options);
    w.start();
    REQUIRE(started.wait_for_count(1));
    auto report = w.stop(50ms);
    CHECK_FALSE(report.in_time);
    CHECK(report.abandoned == std::vector<std::string>{id});
    CHECK_FALSE(finished.load());  // it returned while the handler still ran
    auto records = failures.of(herald::failure_kind::stop_deadline);
    REQUIRE(records.size() == 1);
    CHECK(records[0].message_id == id);
    CHECK(w.health().state == herald::part_state::stopped);
  }  // the worker is destroyed; its own thread, detached, still runs the handler
  {
    std::lock_guard lock(gate_mutex);
    release = true;
  }
  gate.notify_all();
  for (int i = 0; i < 3000 && !finished.load(); ++i) std::this_thread::sleep_for(1ms);
  CHECK(finished.load());
  // Not acked: the lease expires and the message is there for another worker.
  CHECK(jobs.stats().in_flight == 1);
  clock.advance(31s);
  auto again = fixture.store.lease("jobs", 10, clock.now(), 30s);
  REQUIRE(again.size() == 1);
  CHECK(again[0].id == id);
  CHECK(again[0].attempts == 2);
}

TEMPLATE_TEST_CASE("worker: the handler's stop token fires on stop", "[runtime][worker][threads]",
                   QUEUE_STORES) {
  TestType fixture;
  herald::queue<job, decltype(fixture.store)> jobs(fixture.store, "jobs");
  signal_box started;
  std::atomic<bool> saw_stop{false};
  herald::worker w(jobs, [&](herald::delivery<job>& d) {
    started.bump();
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    saw_stop = cv.wait_for(lock, d.stop_token(), 30s, [] { return false; }) == false &&
               d.stop_token().stop_requested();
    throw std::runtime_error("stopped before finishing");  // retried later
  });
  jobs.send(job{1, ""});
  w.start();
  REQUIRE(started.wait_for_count(1));
  CHECK(w.stop(30s).in_time);
  CHECK(saw_stop.load());
  CHECK(jobs.stats().delayed == 1);  // retrying, not lost
}

TEMPLATE_TEST_CASE("worker: a delivery gives the attempt and extends its lease",
                   "[runtime][worker]", QUEUE_STORES) {
  TestType fixture;
  herald::manual_clock clock;
  herald::queue<job, decltype(fixture.store)> jobs(fixture.store, "jobs", {.clock = clock});
  std::vector<std::uint32_t> attempts;
  herald::worker_options options;
  options.retry.jitter = false;
  options.retry.base = 1s;
  herald::worker w(
      jobs,
      [&](herald::delivery<job>& d) {
        attempts.push_back(d.attempt());
        CHECK(d.queue_name() == "jobs");
        CHECK(d.message().data.n == d.data().n);
        if (d.attempt() == 1) throw std::runtime_error("once");
        CHECK(d.extend(1h));
        // Far past the visibility timeout, the extended lease still holds.
        CHECK(fixture.store.lease("jobs", 10, clock.now() + 30min, 30s).empty());
        throw std::runtime_error("twice");
      },
      options);
  jobs.send(job{7, ""});
  CHECK(w.run_once(clock.now()) == 1);
  clock.advance(1s);
  CHECK(w.run_once(clock.now()) == 1);
  CHECK(attempts == std::vector<std::uint32_t>{1, 2});
}

TEMPLATE_TEST_CASE("worker: run_once honours concurrency on its executor",
                   "[runtime][worker][threads]", QUEUE_STORES) {
  TestType fixture;
  herald::queue<job, decltype(fixture.store)> jobs(fixture.store, "jobs");
  herald::thread_pool pool(4);
  std::mutex mutex;
  std::condition_variable all_in;
  int inside = 0;
  std::atomic<int> met{0};
  herald::worker_options options;
  options.concurrency = 4;
  options.handler_executor = &pool;
  herald::worker w(
      jobs,
      [&](const job&) {
        std::unique_lock lock(mutex);
        ++inside;
        all_in.notify_all();
        // Run one by one, the first would wait here for the others in vain.
        if (all_in.wait_for(lock, 30s, [&] { return inside >= 4; })) met.fetch_add(1);
      },
      options);
  for (int i = 0; i < 4; ++i) jobs.send(job{i, ""});
  CHECK(w.run_once(jobs.now()) == 4);
  CHECK(met.load() == 4);
  CHECK(jobs.stats().depth + jobs.stats().in_flight == 0);
}

TEMPLATE_TEST_CASE("worker: a lease lost under a handler is reported with its own code",
                   "[runtime][worker]", QUEUE_STORES) {
  TestType fixture;
  herald::manual_clock clock;
  herald::queue<job, decltype(fixture.store)> jobs(fixture.store, "jobs", {.clock = clock});
  herald_test::failure_recorder failures;
  herald::worker_options options;
  options.failures = &failures;
  herald::worker w(
      jobs,
      [&](const job&) {
        // Another worker takes the message after this one's lease expired.
        clock.advance(31s);
        CHECK(fixture.store.lease("jobs", 1, clock.now(), 30s).size() == 1);
      },
      options);
  const auto id = jobs.send(job{1, ""}).id;
  CHECK(w.run_once(clock.now()) == 1);
  auto lost = failures.of(herald::failure_kind::lease_lost);
  REQUIRE(lost.size() == 1);
  CHECK(lost[0].code == herald::errc::lease_lost);
  CHECK(lost[0].message_id == id);
  CHECK(jobs.stats().in_flight == 1);  // the other holder's, untouched
}

TEMPLATE_TEST_CASE("worker: every kind of worker failure reaches the sink", "[runtime][worker]",
                   QUEUE_STORES) {
  TestType fixture;
  herald::manual_clock clock;
  herald::queue<job, decltype(fixture.store)> jobs(fixture.store, "jobs", {.clock = clock});
  herald_test::failure_recorder failures;
  herald::worker_options options;
  options.failures = &failures;
  options.retry.max_attempts = 2;
  options.retry.jitter = false;
  options.concurrency = 10;
  herald::worker w(
      jobs,
      [&](const job& j) {
        if (j.n == 1) throw std::runtime_error("transient");
        if (j.n == 2) throw herald::permanent_failure("no such customer");
      },
      options);
  jobs.send(job{1, ""});
  jobs.send(job{2, ""});
  {
    // Bytes that are not a job: what another producer might send.
    auto tx = fixture.store.begin();
    herald::queue_message_draft bad{"bad-1", "{\"not\": \"an event\"}", "", "", clock.now()};
    fixture.store.enqueue(tx, "jobs", std::span(&bad, 1), clock.now(), 1min);
    tx.commit();
  }
  w.run_once(clock.now());
  clock.advance(1h);
  w.run_once(clock.now());
  using k = herald::failure_kind;
  CHECK(failures.of(k::retry_scheduled).size() == 1);
  CHECK(failures.of(k::decode_failed).size() == 1);
  CHECK(failures.of(k::decode_failed)[0].message_id == "bad-1");
  auto dead = failures.of(k::dead_lettered);
  REQUIRE(dead.size() == 3);  // undecodable, permanent, and after max attempts
  std::set<herald::errc> codes;
  for (const auto& d : dead) codes.insert(d.code);
  CHECK(codes.count(herald::errc::permanent_failure) == 1);
  CHECK(codes.count(herald::errc::handler_failed) == 1);
  // The dead letters decode on demand, or say why they do not.
  auto letters = jobs.dead_letters();
  REQUIRE(letters.size() == 3);
  int decoded = 0, undecodable = 0;
  for (const auto& l : letters) {
    std::string why;
    if (auto m = l.try_decode(&why)) {
      ++decoded;
      CHECK(m->data.n == (l.reason.find("no such customer") != std::string::npos ? 2 : 1));
    } else {
      ++undecodable;
      CHECK(l.id == "bad-1");
      CHECK_THAT(why, Catch::Contains("specversion"));
      CHECK_THROWS_AS(l.decode(), herald::decode_error);
    }
  }
  CHECK(decoded == 2);
  CHECK(undecodable == 1);
}
