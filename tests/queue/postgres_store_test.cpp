// SPDX-License-Identifier: MIT
// What only the PostgreSQL store has: its schema versions, senders racing
// on one FIFO group, lost connections and timeouts. The queue semantics
// are the conformance suite's, which runs over this store too.
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <herald/postgres/postgres_store.hpp>
#include <herald/queue/queue.hpp>
#include <herald/queue/worker.hpp>
#include <herald/runtime/metrics.hpp>
#include <herald/testing/manual_clock.hpp>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support/failure_recorder.hpp"
#include "support/postgres_connection.hpp"
#include "support/postgres_server.hpp"
#include "support/queue_fixtures.hpp"
#include "support/refusal.hpp"
#include "support/signal_box.hpp"

using namespace std::chrono_literals;
using herald_test::job;

namespace {

using pg_connection = herald_test::postgres_connection;

herald::postgres_store open_store(const herald_test::postgres_schema& s,
                                  herald::postgres_options o = {}) {
  o.schema = s.name();
  return herald::postgres_store(s.url(), o);
}

}  // namespace

TEST_CASE("postgres store: a schema from a newer herald is refused and left unchanged",
          "[queue][postgres]") {
  herald_test::postgres_schema s;
  { auto store = open_store(s); }
  pg_connection raw;
  raw.scalar("UPDATE " + s.name() + ".schema_version SET version = 99");
  CHECK_THROWS_WITH(open_store(s),
                    Catch::Contains("schema version 99") &&
                        Catch::Contains("knows versions up to " +
                                        std::to_string(herald::postgres_store::schema_version)) &&
                        Catch::Contains("nothing was changed"));
  CHECK(raw.scalar("SELECT version FROM " + s.name() + ".schema_version") == "99");
}

TEST_CASE("postgres store: a version 1 schema is migrated and keeps its messages",
          "[queue][postgres]") {
  herald_test::postgres_schema s;
  pg_connection raw;
  const std::string q = "\"" + s.name() + "\"";
  raw.scalar("CREATE SCHEMA " + q + "; CREATE TABLE " + q +
             ".schema_version (version integer NOT NULL); INSERT INTO " + q +
             ".schema_version VALUES (1)");
  raw.scalar(herald::detail::postgres::in_schema(herald::detail::postgres::schema_v1, q));
  raw.scalar("INSERT INTO " + q +
             ".queue (queue, id, body, enqueued_at, available_at) VALUES ('jobs', 'old', "
             "'{}', 0, 0)");
  auto store = open_store(s);
  CHECK(raw.scalar("SELECT version FROM " + q + ".schema_version") ==
        std::to_string(herald::postgres_store::schema_version));
  auto leased = store.lease("jobs", 10, herald::time_point{} + 1s, 30s);
  REQUIRE(leased.size() == 1);
  CHECK(leased[0].id == "old");
}

TEST_CASE("postgres store: sixteen stores creating one schema at once do not race",
          "[queue][postgres]") {
  herald_test::postgres_schema s;
  std::vector<std::thread> starters;
  std::atomic<int> failures{0};
  std::mutex m;
  std::string first_failure;
  for (int i = 0; i < 16; ++i) {
    starters.emplace_back([&] {
      try {
        auto store = open_store(s, {.pool_size = 1});
      } catch (const std::exception& e) {
        std::lock_guard lock(m);
        if (failures++ == 0) first_failure = e.what();
      }
    });
  }
  for (auto& t : starters) t.join();
  INFO(first_failure);
  CHECK(failures == 0);
  pg_connection raw;
  CHECK(raw.scalar("SELECT count(*) FROM " + s.name() + ".schema_version") == "1");
}

TEST_CASE("postgres store: racing senders to one group are leased in the order they committed",
          "[queue][postgres]") {
  herald_test::postgres_schema s;
  auto first = open_store(s);
  auto second = open_store(s);  // another process's store: its own connections
  herald::manual_clock clock;
  herald::queue<job, herald::postgres_store> a(first, "jobs", {.clock = clock});
  herald::queue<job, herald::postgres_store> b(second, "jobs", {.clock = clock});
  herald::send_options grouped;
  grouped.group = "order-7";
  std::atomic<int> commits{0};
  int committed_a = 0, committed_b = 0;
  std::atomic<bool> a_sent{false};
  std::jthread slow([&] {
    auto tx = first.begin();
    a.send(tx, job{1, "order-7"}, grouped);  // the smaller seq, committed late
    a_sent = true;
    std::this_thread::sleep_for(300ms);
    tx.commit();
    committed_a = ++commits;
  });
  while (!a_sent) std::this_thread::yield();
  {
    auto tx = second.begin();
    b.send(tx, job{2, "order-7"}, grouped);  // waits for the group's turn
    tx.commit();
    committed_b = ++commits;
  }
  slow.join();
  std::vector<int> leased_order;
  for (int i = 0; i < 2; ++i) {
    auto got = first.lease("jobs", 10, clock.now(), 30s);
    REQUIRE(got.size() == 1);  // never two of one group in one batch
    leased_order.push_back(nlohmann::json::parse(got[0].body)["data"]["n"].get<int>());
    REQUIRE(first.ack("jobs", got[0]));
  }
  const std::vector<int> commit_order =
      committed_a < committed_b ? std::vector<int>{1, 2} : std::vector<int>{2, 1};
  CHECK(leased_order == commit_order);
}

TEST_CASE("postgres store: a lost connection fails one call as transient, and the next reconnects",
          "[queue][postgres]") {
  herald_test::postgres_schema s;
  auto store = open_store(s, {.pool_size = 1, .application_name = s.name()});
  herald::manual_clock clock;
  herald::queue<job, herald::postgres_store> jobs(store, "jobs", {.clock = clock});
  jobs.send(job{1, ""});
  pg_connection raw;
  // The pool's one connection, and the one that notifies other processes if it is open yet.
  const auto ended = raw.scalar(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE application_name = '" +
      s.name() + "'");
  CHECK((ended == "1" || ended == "2"));
  bool failed_transient = false;
  try {
    jobs.send(job{2, ""});
  } catch (const herald::store_error& e) {
    failed_transient = e.transient() && e.code() == herald::errc::storage_unavailable;
    CHECK_THAT(e.what(), Catch::Contains("the next call opens a new one"));
  }
  CHECK(failed_transient);
  jobs.send(job{3, ""});  // a new connection
  auto got = store.lease("jobs", 10, clock.now(), 30s);
  std::vector<int> ns;
  for (const auto& m : got) ns.push_back(nlohmann::json::parse(m.body)["data"]["n"].get<int>());
  CHECK(ns == std::vector<int>{1, 3});  // nothing lost; the failed send stored nothing
}

TEST_CASE("postgres store: a lock held past lock_timeout is reported as busy, naming the setting",
          "[queue][postgres]") {
  herald_test::postgres_schema s;
  auto store = open_store(s, {.lock_timeout = 200ms});
  pg_connection raw;
  raw.scalar("BEGIN; LOCK TABLE " + s.name() + ".queue IN ACCESS EXCLUSIVE MODE");
  try {
    (void)store.stats("jobs", herald::time_point{});
    FAIL("stats() read a table another transaction held locked");
  } catch (const herald::store_error& e) {
    CHECK(e.code() == herald::errc::storage_busy);
    CHECK(e.transient());
    CHECK_THAT(e.what(), Catch::Contains("lock_timeout"));
  }
  raw.scalar("ROLLBACK");
  CHECK(store.stats("jobs", herald::time_point{}).depth == 0);
}

TEST_CASE("postgres store: the caller's rows and the messages commit or roll back together",
          "[queue][postgres]") {
  herald_test::postgres_schema s;
  auto store = open_store(s);
  herald::manual_clock clock;
  herald::queue<job, herald::postgres_store> jobs(store, "jobs", {.clock = clock});
  pg_connection raw;
  raw.scalar("CREATE TABLE " + s.name() + ".orders (id integer)");
  auto write_order = [&](herald::postgres_store::transaction& tx) {
    PGresult* r =
        PQexec(tx.connection(), ("INSERT INTO " + s.name() + ".orders VALUES (1)").c_str());
    REQUIRE(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
  };
  {
    auto tx = store.begin();
    write_order(tx);
    jobs.send(tx, job{1, ""});
  }  // rolled back
  CHECK(raw.scalar("SELECT count(*) FROM " + s.name() + ".orders") == "0");
  CHECK(jobs.stats().depth == 0);
  {
    auto tx = store.begin();
    write_order(tx);
    jobs.send(tx, job{2, ""});
    tx.commit();
  }
  CHECK(raw.scalar("SELECT count(*) FROM " + s.name() + ".orders") == "1");
  CHECK(jobs.stats().depth == 1);
}

TEST_CASE(
    "postgres store: another process's send wakes an idle worker here at once, also the first "
    "after either side's connection broke",
    "[queue][postgres][threads]") {
  herald_test::postgres_schema s;
  auto here = open_store(s, {.application_name = s.name()});
  // another process's store
  auto there = open_store(s, {.application_name = s.name() + "_sender", .listen = false});
  herald::queue<job, herald::postgres_store> mine(here, "jobs");
  herald::queue<job, herald::postgres_store> theirs(there, "jobs");
  herald_test::signal_box handled;
  herald::worker_options options;
  options.poll_interval = 1h;  // only a notification can wake it in time
  herald::worker w(
      mine, [&](const job&) { handled.bump(); }, options);
  w.start();
  theirs.send(job{1, ""});
  REQUIRE(handled.wait_for_count(1));
  // The listening connection is cut: it reconnects, and wakes the worker
  // in case it missed something meanwhile.
  pg_connection raw;
  const std::string cut =
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '" +
      s.name() + "' AND query LIKE 'LISTEN%'";
  raw.scalar(cut);
  theirs.send(job{2, ""});
  REQUIRE(handled.wait_for_count(2));
  theirs.send(job{3, ""});
  REQUIRE(handled.wait_for_count(3));
  // The sender's notifying connection is cut (a server restart, a proxy's idle
  // timeout): the first send after it still wakes the worker.
  CHECK(raw.scalar("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                   "application_name = '" +
                   s.name() + "_sender' AND query LIKE 'NOTIFY%'") == "1");
  theirs.send(job{4, ""});
  REQUIRE(handled.wait_for_count(4));
  CHECK(w.stop().in_time);
}

TEST_CASE("postgres store: notifications that never arrive are reported once, and workers poll",
          "[queue][postgres][threads]") {
  herald_test::postgres_schema s;
  herald_test::failure_recorder failures;
  auto store = open_store(s, {.notification_probe_timeout = 0ms, .failures = &failures});
  herald::queue<job, herald::postgres_store> jobs(store, "jobs");
  herald_test::signal_box handled;
  herald::worker_options options;
  options.poll_interval = 20ms;
  herald::worker w(
      jobs, [&](const job&) { handled.bump(); }, options);
  w.start();
  REQUIRE(failures.wait_for_count(1));
  auto all = failures.all();
  REQUIRE(all.size() == 1);
  CHECK(all[0].kind == herald::failure_kind::store_failed);
  CHECK_THAT(all[0].text,
             Catch::Contains("notifications do not arrive") && Catch::Contains("poll_interval"));
  herald_test::postgres_exec("INSERT INTO " + s.name() +
                             ".queue (queue, id, body, enqueued_at, available_at) VALUES "
                             "('jobs', 'x', '{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/"
                             "t\",\"type\":\"test.job.requested\",\"data\":{\"n\":1,\"group\":"
                             "\"\"}}', 0, 0)");
  REQUIRE(handled.wait_for_count(1));  // found by polling
  CHECK(w.stop().in_time);
}

TEST_CASE(
    "postgres store: a REPEATABLE READ transaction held open elsewhere does not stop the queue, "
    "and the metric shows its age",
    "[queue][postgres]") {
  herald_test::postgres_schema s;
  herald::metrics_registry metrics;
  auto store = open_store(s, {.metrics = &metrics});
  herald::queue<job, herald::postgres_store> jobs(store, "jobs");
  int handled = 0;
  herald::worker w(jobs, [&](const job&) { ++handled; });
  // Enough to see the queue keep moving (each message is a committed round
  // trip); the throughput figures it prints are for a person, never checked.
  constexpr int messages = 300;
  auto work_all = [&] {
    std::vector<job> batch(100);
    for (int i = 0; i < messages; i += 100) jobs.send_batch(batch);
    const auto start = std::chrono::steady_clock::now();
    while (w.run_once(std::chrono::system_clock::now()) > 0) {
    }
    return messages /
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const double alone = work_all();
  pg_connection holder;
  holder.scalar("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM pg_class");
  const double beside = work_all();
  CHECK(handled == 2 * messages);
  CHECK(jobs.stats().depth == 0);
  std::printf(
      "postgres store: %.0f messages/s alone, %.0f/s beside a REPEATABLE READ transaction "
      "held open (ratio %.2f)\n",
      alone, beside, beside / alone);
  std::this_thread::sleep_for(1100ms);  // the holder's transaction is now over a second old
  const std::string text = metrics.prometheus();
  const std::string series =
      "herald_postgres_oldest_transaction_seconds{schema=\"" + s.name() + "\"} ";
  const auto at = text.find(series);
  REQUIRE(at != std::string::npos);
  CHECK(std::stod(text.substr(at + series.size())) >= 1.0);
  holder.scalar("ROLLBACK");
}

TEST_CASE("postgres store: a begin() waiting for a pooled connection blocks nobody else",
          "[queue][postgres][threads]") {
  herald_test::postgres_schema s;
  auto store = open_store(s, {.pool_size = 1});
  herald::manual_clock clock;
  herald::queue<job, herald::postgres_store> jobs(store, "jobs", {.clock = clock});
  auto tx = store.begin();  // holds the only connection
  jobs.send(tx, job{1, ""});
  std::atomic<bool> other_began{false};
  std::jthread other([&] {
    auto mine = store.begin();  // waits until the first transaction gives its connection back
    other_began = true;
    jobs.send(mine, job{2, ""});
    mine.commit();
  });
  std::this_thread::sleep_for(100ms);  // let it wait for the connection
  CHECK(jobs.stats().in_flight == 0);  // this thread's calls still run, in its transaction
  CHECK_FALSE(other_began.load());
  tx.commit();
  other.join();
  CHECK(other_began.load());
  CHECK(jobs.stats().depth == 2);
}

TEST_CASE("postgres store: names and literals in SQL text are quoted once, whatever they hold",
          "[queue][postgres]") {
  using herald::detail::postgres::quote_identifier;
  using herald::detail::postgres::quote_literal;
  CHECK(quote_identifier("a\"b") == "\"a\"\"b\"");
  CHECK(quote_literal("it's") == "'it''s'");
  CHECK(quote_literal("back\\slash;") == "'back\\slash;'");  // standard_conforming_strings
  // A name inside a literal, as nextval() takes it: both quotings.
  CHECK(quote_literal(quote_identifier("x'\"y") + ".seq") == "'\"x''\"\"y\".seq'");
  const std::string nul("a\0b", 3);
  CHECK_THROWS_MATCHES(quote_identifier(nul), herald::error,
                       Catch::Predicate<herald::error>([](const herald::error& e) {
                         return e.code() == herald::errc::invalid_argument &&
                                std::string(e.what()).find("NUL") != std::string::npos;
                       }));
  CHECK_THROWS_AS(quote_literal(nul), herald::error);
}

namespace {

// A schema of its own with a hostile name: dropped through the quoting under test.
struct hostile_schema {
  std::string name;
  explicit hostile_schema(std::string n) : name(std::move(n)) { drop(); }
  ~hostile_schema() { drop(); }
  void drop() const {
    herald_test::postgres_exec("DROP SCHEMA IF EXISTS " +
                               herald::detail::postgres::quote_identifier(name) + " CASCADE");
  }
};

}  // namespace

TEST_CASE(
    "postgres store: a schema named with quotes, semicolons or backslashes works and runs "
    "nothing of its name",
    "[queue][postgres]") {
  const std::string tag = std::to_string(::getpid());
  const std::vector<std::string> names = {
      "it's " + tag,
      "a\"b " + tag,
      "semi; DROP TABLE x; -- " + tag,
      "back\\slash\\' " + tag,
      "{s} " + tag,
      "x'||set_config('herald.pwned','yes',false)||' " + tag,
      "sch\xc3\xa9ma " + tag,
  };
  herald::manual_clock clock;
  for (const auto& name : names) {
    INFO(name);
    hostile_schema s(name);
    herald::postgres_store store(herald_test::postgres_url(), {.schema = name, .pool_size = 1});
    herald::queue<job, herald::postgres_store> q(store, "jobs", {.clock = clock});
    q.send(job{1, ""});
    auto leased = store.lease("jobs", 10, clock.now(), 30s);
    REQUIRE(leased.size() == 1);
    CHECK(store.ack("jobs", leased[0]));
    pg_connection raw;
    CHECK(raw.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = " +
                     herald::detail::postgres::quote_literal(name)) == "1");
  }
}

TEST_CASE(
    "postgres store: a schema name PostgreSQL would cut short, or cannot hold, is refused "
    "before anything is created",
    "[queue][postgres]") {
  const std::string url = herald_test::postgres_url();
  auto refused = [&](const std::string& name, std::vector<std::string> words) {
    INFO(name.size());
    for (const auto& w : words) {
      herald_test::check_invalid([&] { herald::postgres_store store(url, {.schema = name}); }, w);
    }
  };
  // Two names that differ only after byte 63 would share one schema.
  const std::string long_a = "herald_long_" + std::string(52, 'x') + "_a";
  const std::string long_b = "herald_long_" + std::string(52, 'x') + "_b";
  refused(long_a, {"66 bytes", "63"});
  refused(long_b, {"66 bytes", "63"});
  refused(std::string(64, 'y'), {"64 bytes", "63"});
  refused(std::string("a\0b", 3), {"NUL"});
  refused("bad \xff\xfe utf8", {"UTF-8"});
  refused("", {"empty"});
  pg_connection raw;
  CHECK(raw.scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'herald_long_%'") == "0");
  // 63 bytes is the limit, and fits.
  hostile_schema fits("h" + std::to_string(::getpid()) + "_" +
                      std::string(62 - std::to_string(::getpid()).size() - 1, 'z'));
  REQUIRE(fits.name.size() == 63);
  herald::postgres_store store(url, {.schema = fits.name, .pool_size = 1});
  CHECK(raw.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = '" + fits.name + "'") == "1");
}

TEST_CASE("postgres store: a metrics scrape does not wait for a connection of an exhausted pool",
          "[queue][postgres][metrics]") {
  herald_test::postgres_schema s;
  herald::metrics_registry metrics;
  auto store = open_store(s, {.pool_size = 1, .metrics = &metrics});
  herald::queue<job, herald::postgres_store> jobs(store, "jobs");
  jobs.send(job{1, ""});
  herald::worker_options options;
  options.metrics = &metrics;
  herald::worker worker(
      jobs, [](const job&) {}, options);  // its depth collector reads the store
  // Scrapes run on a thread of their own: this one's transaction is not theirs.
  const std::string before =
      std::async(std::launch::async, [&] { return metrics.prometheus(); }).get();
  CHECK(before.find("herald_queue_depth{queue=\"jobs\"} 1\n") != std::string::npos);
  std::optional<herald::postgres_store::transaction> tx;
  tx.emplace(store.begin());  // holds the only connection
  auto scrape = std::async(std::launch::async, [&] { return metrics.prometheus(); });
  const bool answered = scrape.wait_for(10s) == std::future_status::ready;
  CHECK(answered);
  tx.reset();  // lets a scrape that waited end, so that the test ends either way
  const std::string text = scrape.get();
  CHECK(text.find("herald_queue_depth{queue=\"jobs\"} 1\n") !=
        std::string::npos);  // its last value
  // The worker's collector and the store's own, each counted.
  CHECK(text.find("herald_metrics_collector_failures_total 2\n") != std::string::npos);
}
