// SPDX-License-Identifier: MIT
// The host: one start in order, one stop in reverse within one deadline,
// health as a value and as JSON, and signals turned into a graceful stop.
#include <signal.h>

#include <atomic>
#include <herald/bus/thread_pool.hpp>
#include <herald/queue/queue.hpp>
#include <herald/queue/worker.hpp>
#include <herald/runtime/host.hpp>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support/failure_recorder.hpp"
#include "support/queue_fixtures.hpp"

using namespace std::chrono_literals;
using herald_test::job;

namespace {

// A user's own part, recording what the host asks of it.
struct recording_part {
  std::string name;
  std::vector<std::string>* log;
  bool fail_start = false;
  bool running = false;
  herald::part_context given{};

  void start() {
    if (fail_start) throw std::runtime_error(name + " cannot start");
    running = true;
    log->push_back("start " + name);
  }
  herald::stop_report stop(herald::duration) {
    if (running) log->push_back("stop " + name);
    running = false;
    return {name, true, {}};
  }
  std::size_t run_once(herald::time_point) {
    log->push_back("run " + name);
    return 1;
  }
  [[nodiscard]] herald::part_health health() const {
    return {name, running ? herald::part_state::running : herald::part_state::stopped, "", ""};
  }
  void use(const herald::part_context& c) { given = c; }
};
static_assert(herald::part<recording_part>);

}  // namespace

TEST_CASE("host: starts in order, stops in reverse, and reports health", "[runtime][host]") {
  std::vector<std::string> log;
  recording_part a{"a", &log}, b{"b", &log}, c{"c", &log};
  herald::thread_pool pool(1);
  herald_test::failure_recorder failures;
  herald::metrics_registry metrics;
  herald::host host({&pool, &failures, &metrics});
  host.add(a);
  host.add(b);
  host.add(c);
  CHECK(a.given.runs_on == &pool);
  CHECK(b.given.failures == &failures);
  CHECK(c.given.metrics == &metrics);
  CHECK_FALSE(host.healthy());
  host.start();
  CHECK_THROWS_WITH(host.add(a), Catch::Contains("before start()"));
  CHECK(host.healthy());
  CHECK(host.run_once(herald::time_point{}) == 3);
  auto json = nlohmann::json::parse(host.health_json());
  CHECK(json["healthy"] == true);
  REQUIRE(json["parts"].size() == 3);
  CHECK(json["parts"][1]["name"] == "b");
  CHECK(json["parts"][1]["state"] == "running");
  auto report = host.stop();
  CHECK(report.in_time);
  CHECK(log == std::vector<std::string>{"start a", "start b", "start c", "run a", "run b", "run c",
                                        "stop c", "stop b", "stop a"});
  CHECK(nlohmann::json::parse(host.health_json())["healthy"] == false);
}

TEST_CASE("host: a part that fails to start stops those started before it", "[runtime][host]") {
  std::vector<std::string> log;
  recording_part a{"a", &log}, b{"b", &log, true}, c{"c", &log};
  herald::host host;
  host.add(a);
  host.add(b);
  host.add(c);
  CHECK_THROWS_WITH(host.start(), "b cannot start");
  CHECK(log == std::vector<std::string>{"start a", "stop a"});
}

TEST_CASE("host: workers on one pool; a stop past its deadline is reported",
          "[runtime][host][threads]") {
  herald::memory_store store;
  herald::queue<job, herald::memory_store> fast(store, "fast"), slow(store, "slow");
  herald::thread_pool pool(2);
  herald_test::failure_recorder failures;
  herald::host host({&pool, &failures, nullptr});
  std::atomic<int> handled{0};
  std::atomic<bool> release{false};
  std::atomic<bool> slow_started{false};
  herald::worker fast_worker(fast, [&](const job&) { handled.fetch_add(1); });
  herald::worker slow_worker(slow, [&](const job&) {
    slow_started = true;
    while (!release.load()) std::this_thread::sleep_for(1ms);  // ignores its stop token
  });
  host.add(fast_worker);
  host.add(slow_worker);
  host.start();
  for (int i = 0; i < 20; ++i) fast.send(job{i, ""});
  slow.send(job{0, ""});
  for (int i = 0; i < 3000 && (handled.load() < 20 || !slow_started.load()); ++i) {
    std::this_thread::sleep_for(1ms);
  }
  REQUIRE(handled.load() == 20);
  REQUIRE(slow_started.load());
  auto h = host.health();
  REQUIRE(h.size() == 2);
  CHECK(h[0].name == "worker fast");
  CHECK(h[0].state == herald::part_state::running);
  auto report = host.stop(100ms);
  CHECK_FALSE(report.in_time);
  REQUIRE(report.parts.size() == 2);
  CHECK(report.parts[0].name == "slow");  // reverse order
  CHECK(report.parts[0].abandoned.size() == 1);
  CHECK(report.parts[1].in_time);
  CHECK(failures.of(herald::failure_kind::stop_deadline).size() == 2);  // the worker's, the host's
  release = true;
  pool.stop();  // the abandoned handler ends on the pool
}

TEST_CASE("host: SIGTERM after stop_on_signals makes wait() stop gracefully",
          "[runtime][host][threads]") {
  std::vector<std::string> log;
  recording_part a{"a", &log};
  herald::host host;
  host.add(a);
  host.start();
  host.stop_on_signals();
  std::thread sender([] { ::kill(::getpid(), SIGTERM); });
  auto report = host.wait(5s);
  sender.join();
  CHECK(report.in_time);
  CHECK(log == std::vector<std::string>{"start a", "stop a"});
}

TEST_CASE("host: request_stop() from another thread ends wait()", "[runtime][host][threads]") {
  std::vector<std::string> log;
  recording_part a{"a", &log};
  herald::host host;
  host.add(a);
  host.start();
  std::thread stopper([&] { host.request_stop(); });
  host.wait();
  stopper.join();
  CHECK(log.back() == "stop a");
}
