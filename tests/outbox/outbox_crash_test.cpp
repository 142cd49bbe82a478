// SPDX-License-Identifier: MIT
// The outbox's guarantees across crashes: relay processes (outbox_crash_child)
// are killed with SIGKILL at chosen points and at random, several at once;
// the consumer behind an inbox must see every message, each effect once, in
// commit order per key.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <herald/outbox/outbox.hpp>
#include <herald/sqlite/sqlite_outbox.hpp>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "support/crash_support.hpp"
#include "support/outbox_fixtures.hpp"

namespace {

pid_t spawn_relay(std::vector<std::string> args) {
  return herald_test::spawn_crash_child(std::move(args), HERALD_OUTBOX_CHILD);
}

// Sizes: CI runs the small ones; HERALD_CRASH_MESSAGES sets a larger run by hand.
int messages_wanted(int ci_size) {
  const char* n = std::getenv("HERALD_CRASH_MESSAGES");
  return n ? std::atoi(n) : ci_size;
}

// The producer's outbox and the consumer's tables: two SQLite files.
struct sqlite_backend {
  using store_type = herald::sqlite_store;
  herald_test::temp_db outbox_file{"outbox-crash"};
  herald_test::temp_db consumer_file{"outbox-consumer"};

  void create_tables() {
    herald::sqlite_store consumer(consumer_file.path());
    herald_test::exec(consumer.connection(),
                      "CREATE TABLE effects (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT, "
                      "n INTEGER); CREATE TABLE totals (count INTEGER, sum INTEGER); "
                      "INSERT INTO totals VALUES (0, 0)");
    herald::sqlite_store producer(outbox_file.path());
    herald_test::exec(producer.connection(), "CREATE TABLE orders (n INTEGER)");
  }
  std::unique_ptr<herald::sqlite_store> producer() const {
    return std::make_unique<herald::sqlite_store>(outbox_file.path());
  }
  static void exec(herald::sqlite_store::transaction& tx, const std::string& sql) {
    herald_test::exec(tx.connection(), sql);
  }
  std::string tables() const { return ""; }
  std::vector<std::string> args() const {
    return {"sqlite", outbox_file.path(), consumer_file.path()};
  }
  std::vector<std::pair<std::string, int>> effects() const {
    herald::sqlite_store consumer(consumer_file.path());
    std::vector<std::pair<std::string, int>> out;
    auto tx = consumer.begin();
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(tx.connection(), "SELECT key, n FROM effects ORDER BY seq", -1, &s, nullptr);
    while (sqlite3_step(s) == SQLITE_ROW) {
      out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)),
                       sqlite3_column_int(s, 1));
    }
    sqlite3_finalize(s);
    return out;
  }
};

#if HERALD_TEST_POSTGRES
// Both in one schema on the test server, through store objects of their own.
struct postgres_backend {
  using store_type = herald::postgres_store;
  herald_test::postgres_schema schema;

  void create_tables() {
    auto store = producer();
    auto tx = store->begin();
    const std::string s = schema.name() + ".";
    herald_test::pg_exec(tx.connection(),
                         "CREATE TABLE " + s +
                             "effects (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, key "
                             "text, n integer); CREATE TABLE " +
                             s + "totals (count bigint, sum bigint); INSERT INTO " + s +
                             "totals VALUES (0, 0); CREATE TABLE " + s + "orders (n integer)");
    tx.commit();
  }
  std::unique_ptr<herald::postgres_store> producer() const {
    return std::make_unique<herald::postgres_store>(
        schema.url(), herald::postgres_options{.schema = schema.name()});
  }
  static void exec(herald::postgres_store::transaction& tx, const std::string& sql) {
    herald_test::pg_exec(tx.connection(), sql);
  }
  std::string tables() const { return schema.name() + "."; }
  std::vector<std::string> args() const { return {"postgres", schema.url(), schema.name()}; }
  std::vector<std::pair<std::string, int>> effects() const {
    auto store = producer();
    auto tx = store->begin();
    PGresult* r = PQexec(tx.connection(),
                         ("SELECT key, n FROM " + tables() + "effects ORDER BY seq").c_str());
    std::vector<std::pair<std::string, int>> out;
    for (int i = 0; i < PQntuples(r); ++i) {
      out.emplace_back(PQgetvalue(r, i, 0), std::atoi(PQgetvalue(r, i, 1)));
    }
    PQclear(r);
    return out;
  }
};
#define CRASH_BACKENDS sqlite_backend, postgres_backend
#else
#define CRASH_BACKENDS sqlite_backend
#endif

template <class Backend>
struct crash_bench {
  Backend backend;
  int messages = 0;
  std::map<std::string, std::vector<int>> staged;  // per key, in commit order

  crash_bench(int n, int keys) : messages(n) {
    backend.create_tables();
    auto producer = backend.producer();
    herald::outbox<typename Backend::store_type> box(*producer);
    for (int i = 0; i < n; ++i) {
      const std::string key = "k" + std::to_string(i % keys);
      auto tx = producer->begin();
      Backend::exec(
          tx, "INSERT INTO " + backend.tables() + "orders VALUES (" + std::to_string(i) + ")");
      box.stage(tx, herald_test::order_placed{key, i}, {.key = key});
      tx.commit();
      staged[key].push_back(i);
    }
  }

  std::vector<std::string> relay_args(const char* mode, long after, long pace_us = 0) const {
    auto args = backend.args();
    for (auto a : {std::string(mode), std::to_string(after), std::to_string(pace_us)}) {
      args.push_back(a);
    }
    return args;
  }

  // Lost and twice-done messages, and whether each key's effects kept its order.
  void check_effects() {
    std::map<std::string, std::vector<int>> done;
    std::map<int, int> times;
    for (const auto& [key, n] : backend.effects()) {
      done[key].push_back(n);
      ++times[n];
    }
    int lost = 0, twice = 0;
    for (int i = 0; i < messages; ++i) {
      if (times[i] == 0) ++lost;
      if (times[i] > 1) ++twice;
    }
    WARN("outbox crash: " << messages << " messages, lost " << lost << ", done twice " << twice);
    CHECK(lost == 0);
    CHECK(twice == 0);
    CHECK(done == staged);  // every key's effects in commit order
    auto producer = backend.producer();
    herald::outbox<typename Backend::store_type> box(*producer);
    CHECK(box.stats().backlog == 0);
  }
};

bool killed(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }

}  // namespace

TEMPLATE_TEST_CASE("outbox: a relay killed at each crash point loses nothing, does nothing twice",
                   "[outbox][crash]", CRASH_BACKENDS) {
  crash_bench<TestType> b(messages_wanted(120), 7);
  int kills = 0;
  // Between commit and publish, and between publish and mark-sent, at the
  // first delivery, inside a batch (10) and at its end.
  for (const char* mode : {"before_publish", "after_publish"}) {
    for (long after : {1, 4, 10, 13}) {
      const int status = herald_test::wait_for(spawn_relay(b.relay_args(mode, after)));
      INFO(mode << " after " << after);
      REQUIRE(killed(status));
      ++kills;
    }
  }
  CHECK(kills == 8);
  // A relay that lives finishes, once the killed ones' leases run out.
  herald_test::require_clean_exit(herald_test::wait_for(spawn_relay(b.relay_args("none", 0))));
  b.check_effects();
}

TEMPLATE_TEST_CASE("outbox: three relay processes at once, killed and restarted at random",
                   "[outbox][crash]", CRASH_BACKENDS) {
  crash_bench<TestType> b(messages_wanted(600), 13);
  std::mt19937 random(std::random_device{}());
  std::vector<pid_t> relays;
  auto args = b.relay_args("none", 0, 2000);  // 2 ms per delivery
  for (int i = 0; i < 3; ++i) relays.push_back(spawn_relay(args));
  // Each kill waits for a random share of fresh effects (1/48 to 1/24 of the
  // messages) rather than a random time, so the twelve kills land while at
  // least half the messages are still to do, however fast the machine: a
  // relay exits on its own only once the outbox is empty.
  const auto step = static_cast<std::size_t>(std::max(1, b.messages / 48));
  std::size_t seen = b.backend.effects().size();
  int kills = 0;
  for (int round = 0; round < 12; ++round) {
    const std::size_t want = seen + step + random() % step;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while ((seen = b.backend.effects().size()) < want) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    auto& victim = relays[random() % relays.size()];
    ::kill(victim, SIGKILL);
    if (killed(herald_test::wait_for(victim))) ++kills;
    victim = spawn_relay(args);
  }
  for (auto pid : relays) herald_test::require_clean_exit(herald_test::wait_for(pid));
  WARN("three relays: " << kills << " of 12 killed while relaying, " << seen << " of " << b.messages
                        << " effects done at the last kill");
  CHECK(kills == 12);
  b.check_effects();
}
