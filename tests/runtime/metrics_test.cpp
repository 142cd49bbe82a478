// SPDX-License-Identifier: MIT
// Metrics: the values after a scripted scenario on a manual clock, and the
// Prometheus text, checked by the real promtool when it is installed.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <herald/queue/queue.hpp>
#include <herald/queue/worker.hpp>
#include <herald/runtime/metrics.hpp>
#include <herald/testing/manual_clock.hpp>
#include <herald/topic/topic.hpp>
#include <string>

#include "catch.hpp"
#include "support/failure_recorder.hpp"
#include "support/home_events.hpp"
#include "support/queue_fixtures.hpp"

using namespace std::chrono_literals;
using herald_test::job;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

// promtool's verdict on the text, or why there is none.
std::string promtool_check(const std::string& text) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true")
      return "promtool is not installed, and CI=true requires it";
    std::fprintf(stderr, "SKIPPED: promtool is not installed (apt-get install prometheus)\n");
    return "";
  }
  herald_test::temp_db file("metrics");
  { std::ofstream(file.path()) << text; }
  const std::string command = "promtool check metrics < " + file.path() + " 2>&1";
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  char buffer[512];
  while (p && std::fgets(buffer, sizeof buffer, p)) out += buffer;
  const int status = p ? ::pclose(p) : -1;
  return status == 0 ? "" : "promtool: " + out;
}

}  // namespace

TEMPLATE_TEST_CASE("metrics: a scripted scenario, lag ignoring delayed messages",
                   "[runtime][metrics]", QUEUE_STORES) {
  TestType fixture;
  herald::manual_clock clock;
  herald::metrics_registry metrics;
  herald::queue<job, decltype(fixture.store)> jobs(fixture.store, "jobs",
                                                   {.clock = clock, .metrics = &metrics});
  herald::worker_options options;
  options.metrics = &metrics;
  options.concurrency = 10;
  options.retry.jitter = false;
  options.retry.base = 1s;
  herald::worker w(
      jobs,
      [&](const job& j) {
        if (j.n == 2) throw std::runtime_error("flaky");
      },
      options);
  jobs.send(job{1, ""});
  jobs.send(job{2, ""});
  herald::send_options later;
  later.delay = 1min;
  jobs.send(job{3, ""}, later);
  herald::send_options once;
  once.deduplication_id = "job-4";
  once.delay = 1h;
  jobs.send(job{4, ""}, once);
  jobs.send(job{4, ""}, once);
  CHECK(has_line(metrics.prometheus(), "herald_queue_sent_total{queue=\"jobs\"} 4"));
  CHECK(has_line(metrics.prometheus(), "herald_queue_deduplicated_total{queue=\"jobs\"} 1"));
  clock.advance(5s);
  CHECK(has_line(metrics.prometheus(), "herald_queue_lag_seconds{queue=\"jobs\"} 5"));
  CHECK(has_line(metrics.prometheus(), "herald_queue_depth{queue=\"jobs\"} 2"));
  CHECK(w.run_once(clock.now()) == 2);  // job 1 handled, job 2 backs off until t+6s
  std::string text = metrics.prometheus();
  CHECK(has_line(text, "herald_queue_delivered_total{queue=\"jobs\"} 2"));
  CHECK(has_line(text, "herald_queue_handled_total{queue=\"jobs\"} 1"));
  CHECK(has_line(text, "herald_queue_failed_total{queue=\"jobs\"} 1"));
  CHECK(has_line(text, "herald_queue_retried_total{queue=\"jobs\"} 1"));
  CHECK(has_line(text, "herald_queue_dead_lettered_total{queue=\"jobs\"} 0"));
  CHECK(has_line(text, "herald_queue_depth{queue=\"jobs\"} 0"));
  CHECK(has_line(text, "herald_queue_delayed{queue=\"jobs\"} 3"));
  CHECK(has_line(text, "herald_queue_lag_seconds{queue=\"jobs\"} 0"));  // nothing ready
  CHECK(has_line(text, "herald_queue_handler_duration_seconds_count{queue=\"jobs\"} 2"));
  clock.advance(10s);  // job 2 ready since t+6s; job 3 still delayed
  text = metrics.prometheus();
  CHECK(has_line(text, "herald_queue_depth{queue=\"jobs\"} 1"));
  CHECK(has_line(text, "herald_queue_delayed{queue=\"jobs\"} 2"));
  CHECK(has_line(text, "herald_queue_lag_seconds{queue=\"jobs\"} 9"));
  CHECK(promtool_check(text).empty());
  INFO(promtool_check(text));
}

TEST_CASE("metrics: a topic counts per topic and per subscriber", "[runtime][metrics][topic]") {
  herald::metrics_registry metrics;
  herald_test::failure_recorder failures;
  herald::inproc_transport transport({.max_deliver = 3, .failures = &failures});
  herald::topic_options options;
  options.metrics = &metrics;
  options.failures = &failures;
  herald::topic<home::temperature> readings(transport, "home.readings", options);
  int calls = 0;
  herald::subscribe_options billing;
  billing.group = "billing";
  auto flaky = readings.subscribe(
      [&](const home::temperature& t) {
        if (t.room == "attic" && ++calls == 1) throw std::runtime_error("first try fails");
      },
      billing);
  auto quiet = readings.subscribe([](const home::temperature&) {});
  readings.publish(home::temperature{"attic", 12});
  readings.publish(home::temperature{"hall", 19});
  herald::wire_message junk;
  junk.data = "not json";
  transport.publish("home.readings", junk);

  const std::string text = metrics.prometheus();
  const std::string b = "{topic=\"home.readings\",subscriber=\"billing\"} ";
  const std::string a = "{topic=\"home.readings\",subscriber=\"anonymous\"} ";
  CHECK(has_line(text, "herald_topic_published_total{topic=\"home.readings\"} 2"));
  CHECK(has_line(text, "herald_topic_delivered_total" + b + "4"));  // attic twice, hall, junk
  CHECK(has_line(text, "herald_topic_handled_total" + b + "2"));
  CHECK(has_line(text, "herald_topic_failed_total" + b + "1"));
  CHECK(has_line(text, "herald_topic_dead_lettered_total" + b + "1"));
  CHECK(has_line(text, "herald_topic_handler_duration_seconds_count" + b + "3"));
  CHECK(has_line(text, "herald_topic_delivered_total" + a + "3"));
  CHECK(has_line(text, "herald_topic_handled_total" + a + "2"));
  CHECK(has_line(text, "herald_topic_failed_total" + a + "0"));
  INFO(promtool_check(text));
  CHECK(promtool_check(text).empty());
}

TEST_CASE("metrics: names, label escaping, histograms and the text format", "[runtime][metrics]") {
  herald::metrics_registry r;
  auto c = r.counter("jobs_total", "Jobs.", {{"queue", "a\"b\\c\nd"}});
  c.add();
  c.add(2);
  auto h = r.histogram("wait_seconds", "Waits.", {}, {0.1, 1});
  h.observe(std::chrono::milliseconds(50));
  h.observe(std::chrono::milliseconds(500));
  h.observe(std::chrono::seconds(5));
  auto g = r.gauge("depth", "Help with a \\ and a\nnewline.");
  g.set(-1.5);
  const std::string text = r.prometheus();
  CHECK(has_line(text, "jobs_total{queue=\"a\\\"b\\\\c\\nd\"} 3"));
  CHECK(has_line(text, "wait_seconds_bucket{le=\"0.1\"} 1"));
  CHECK(has_line(text, "wait_seconds_bucket{le=\"1\"} 2"));
  CHECK(has_line(text, "wait_seconds_bucket{le=\"+Inf\"} 3"));
  CHECK(has_line(text, "wait_seconds_count 3"));
  CHECK(has_line(text, "wait_seconds_sum 5.55"));
  CHECK(has_line(text, "depth -1.5"));
  CHECK(has_line(text, "# HELP depth Help with a \\\\ and a\\nnewline."));
  CHECK(promtool_check(text).empty());
  CHECK_THROWS_WITH(r.counter("9lives", "x"), Catch::Contains("not a Prometheus name"));
  CHECK_THROWS_WITH(r.gauge("jobs_total", "x"), Catch::Contains("another type"));
  // Same name and labels: the same series.
  r.counter("jobs_total", "Jobs.", {{"queue", "a\"b\\c\nd"}}).add();
  CHECK(has_line(r.prometheus(), "jobs_total{queue=\"a\\\"b\\\\c\\nd\"} 4"));
}

TEST_CASE(
    "metrics: a collector that throws keeps its gauge's last value, is counted, and the rest "
    "of the scrape goes on",
    "[runtime][metrics]") {
  herald::metrics_registry metrics;
  auto depth = metrics.gauge("herald_test_depth", "A gauge its collector reads from a store.");
  auto handled = metrics.counter("herald_test_handled_total", "Counted by its part.");
  bool down = false;
  double stored = 7;
  metrics.add_collector([&] {
    if (down) throw herald::store_error(herald::errc::storage_unavailable, "the server is away");
    depth.set(stored);
  });
  int later_ran = 0;
  metrics.add_collector([&] { ++later_ran; });
  handled.add(3);
  CHECK(has_line(metrics.prometheus(), "herald_test_depth 7"));
  down = true;
  stored = 9;
  std::string text;
  REQUIRE_NOTHROW(text = metrics.prometheus());
  CHECK(has_line(text, "herald_test_depth 7"));  // its last value
  CHECK(has_line(text, "herald_test_handled_total 3"));
  CHECK(has_line(text, "herald_metrics_collector_failures_total 1"));
  CHECK(later_ran == 2);  // the collectors after it ran
  CHECK(promtool_check(text).empty());
  down = false;
  text = metrics.prometheus();
  CHECK(has_line(text, "herald_test_depth 9"));
  CHECK(has_line(text, "herald_metrics_collector_failures_total 1"));
}
