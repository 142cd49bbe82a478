// SPDX-License-Identifier: MIT
// What only the PostgreSQL store has: its schema versions, senders racing
// on one FIFO group, lost connections and timeouts. The queue semantics
// are the conformance suite's, which runs over this store too.
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <herald/postgres/postgres_store.hpp>
#include <herald/queue/queue.hpp>
#include <herald/testing/manual_clock.hpp>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support/postgres_server.hpp"
#include "support/queue_fixtures.hpp"

using namespace std::chrono_literals;
using herald_test::job;

namespace {

// A connection of the test's own, as another process would have.
class raw_connection {
 public:
  raw_connection() : c_(PQconnectdb(herald_test::postgres_url().c_str())) {
    REQUIRE(PQstatus(c_) == CONNECTION_OK);
    PQsetNoticeProcessor(
        c_, [](void*, const char*) {}, nullptr);
  }
  ~raw_connection() { PQfinish(c_); }
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  std::string scalar(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    const auto status = PQresultStatus(r);
    INFO(sql << ": " << PQresultErrorMessage(r));
    const bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    std::string out = ok && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    REQUIRE(ok);
    return out;
  }

 private:
  PGconn* c_;
};

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
  raw_connection raw;
  raw.scalar("UPDATE " + s.name() + ".schema_version SET version = 99");
  CHECK_THROWS_WITH(open_store(s), Catch::Contains("schema version 99") &&
                                       Catch::Contains("knows versions up to 2") &&
                                       Catch::Contains("nothing was changed"));
  CHECK(raw.scalar("SELECT version FROM " + s.name() + ".schema_version") == "99");
}

TEST_CASE("postgres store: a version 1 schema is migrated and keeps its messages",
          "[queue][postgres]") {
  herald_test::postgres_schema s;
  raw_connection raw;
  const std::string q = "\"" + s.name() + "\"";
  raw.scalar("CREATE SCHEMA " + q + "; CREATE TABLE " + q +
             ".schema_version (version integer NOT NULL); INSERT INTO " + q +
             ".schema_version VALUES (1)");
  raw.scalar(herald::detail::postgres::in_schema(herald::detail::postgres::schema_v1, q));
  raw.scalar("INSERT INTO " + q +
             ".queue (queue, id, body, enqueued_at, available_at) VALUES ('jobs', 'old', "
             "'{}', 0, 0)");
  auto store = open_store(s);
  CHECK(raw.scalar("SELECT version FROM " + q + ".schema_version") == "2");
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
  raw_connection raw;
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
  raw_connection raw;
  CHECK(raw.scalar("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                   "application_name = '" +
                   s.name() + "'") == "1");
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
  raw_connection raw;
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
  raw_connection raw;
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
