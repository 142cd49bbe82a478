// SPDX-License-Identifier: MIT
// The PostgreSQL store's transactions: on the user's own connection, with
// sends that reach the server only at commit, and a worker's batch settled
// in one round trip.
#include <libpq-fe.h>

#include <chrono>
#include <future>
#include <herald/postgres/postgres_store.hpp>
#include <herald/queue/queue.hpp>
#include <herald/queue/worker.hpp>
#include <herald/testing/manual_clock.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support/postgres_connection.hpp"
#include "support/postgres_server.hpp"
#include "support/queue_fixtures.hpp"
#include "support/signal_box.hpp"

using namespace std::chrono_literals;
using herald_test::job;

namespace {

struct fixture {
  herald_test::postgres_schema schema;
  herald::postgres_store store{schema.url(), options()};
  herald::manual_clock clock;
  herald::queue<job, herald::postgres_store> jobs{store, "jobs", {.clock = clock}};
  herald_test::postgres_connection mine, other;  // the application's, and another process's

  fixture() { mine.scalar("CREATE TABLE " + schema.name() + ".orders (id integer)"); }
  herald::postgres_options options() const {
    herald::postgres_options o;
    o.schema = schema.name();
    o.lock_timeout = 200ms;
    return o;
  }
  // Another session holds the group's send lock: a send's turn never comes.
  void hold_group_lock() {
    other.scalar("BEGIN");
    other.scalar("SELECT pg_advisory_xact_lock(hashtextextended('" + schema.name() +
                 "\x1fjobs\x1fg', 0))");
  }
  std::string orders() { return other.scalar("SELECT count(*) FROM " + schema.name() + ".orders"); }
  void order(PGconn* c) {
    PGresult* r = PQexec(c, ("INSERT INTO " + schema.name() + ".orders VALUES (1)").c_str());
    REQUIRE(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
  }
};

herald::send_options grouped() {
  herald::send_options o;
  o.group = "g";
  return o;
}

}  // namespace

TEST_CASE(
    "postgres store: a transaction on the user's idle connection commits or rolls back "
    "with the user's rows",
    "[queue][postgres]") {
  fixture f;
  {
    auto tx = f.store.begin(f.mine.get());
    f.order(f.mine.get());
    f.jobs.send(tx, job{1, ""});
  }  // rolled back
  CHECK(f.orders() == "0");
  CHECK(f.jobs.stats().depth == 0);
  CHECK(PQtransactionStatus(f.mine.get()) == PQTRANS_IDLE);
  {
    auto tx = f.store.begin(f.mine.get());
    f.jobs.send(tx, job{2, ""});
    f.order(tx.connection());
    tx.commit();
  }
  CHECK(f.orders() == "1");
  CHECK(f.jobs.stats().depth == 1);
  // herald prepared nothing on the user's session.
  CHECK(f.mine.scalar("SELECT count(*) FROM pg_prepared_statements") == "0");
}

TEST_CASE(
    "postgres store: inside the user's own transaction, herald's commit waits for the "
    "user's",
    "[queue][postgres]") {
  fixture f;
  f.mine.scalar("BEGIN");
  f.order(f.mine.get());
  {
    auto tx = f.store.begin(f.mine.get());
    f.jobs.send(tx, job{1, ""});
    tx.commit();  // a savepoint released: nothing is durable yet
  }
  CHECK(f.jobs.stats().depth == 0);
  {
    auto tx = f.store.begin(f.mine.get());
    f.jobs.send(tx, job{2, ""});
  }  // only this send is undone
  CHECK(PQtransactionStatus(f.mine.get()) == PQTRANS_INTRANS);
  f.mine.scalar("COMMIT");
  CHECK(f.orders() == "1");
  auto leased = f.store.lease("jobs", 10, f.clock.now(), 30s);
  REQUIRE(leased.size() == 1);
  CHECK(herald::decode<job>(leased[0].body).data.n == 1);
}

TEST_CASE("postgres store: begin(PGconn*) refuses a connection it cannot join, saying why",
          "[queue][postgres]") {
  fixture f;
  f.mine.scalar("BEGIN");
  REQUIRE_FALSE(f.mine.try_exec("SELECT no_such_column FROM pg_class"));
  CHECK_THROWS_WITH(f.store.begin(f.mine.get()), Catch::Contains("failed transaction") &&
                                                     Catch::Contains("roll that back first"));
  f.mine.scalar("ROLLBACK");
  CHECK_THROWS_WITH(f.store.begin(nullptr), Catch::Contains("needs an open connection"));
  auto tx = f.store.begin();
  CHECK_THROWS_WITH(f.store.begin(f.mine.get()),
                    Catch::Contains("has a transaction open on another connection"));
}

TEST_CASE(
    "postgres store: a send that fails on the server is reported by commit(), and "
    "nothing is written",
    "[queue][postgres]") {
  fixture f;
  f.hold_group_lock();
  {
    auto tx = f.store.begin();
    f.order(tx.connection());
    f.jobs.send(tx, job{1, ""}, grouped());  // kept until the commit
    try {
      tx.commit();
      FAIL("the commit should have failed");
    } catch (const herald::store_error& e) {
      CHECK(e.code() == herald::errc::storage_busy);
      CHECK_THAT(e.what(), Catch::Contains("lock_timeout"));
    }
  }
  f.other.scalar("ROLLBACK");
  CHECK(f.orders() == "0");
  CHECK(f.jobs.stats().depth == 0);
}

TEST_CASE(
    "postgres store: a commit after one of the caller's statements failed throws: "
    "PostgreSQL rolled it back",
    "[queue][postgres]") {
  fixture f;
  auto tx = f.store.begin();
  f.jobs.send(tx, job{1, ""});
  PGresult* r = PQexec(tx.connection(), "SELECT no_such_column FROM pg_class");
  CHECK(PQresultStatus(r) == PGRES_FATAL_ERROR);
  PQclear(r);
  CHECK_THROWS_WITH(tx.commit(), Catch::Contains("rolled it back"));
  CHECK(f.jobs.stats().depth == 0);
}

TEST_CASE("postgres store: a nested transaction whose send failed rolls back alone",
          "[queue][postgres]") {
  fixture f;
  f.hold_group_lock();
  auto outer = f.store.begin();
  f.jobs.send(outer, job{1, ""});
  {
    auto inner = f.store.begin();
    f.jobs.send(inner, job{2, ""}, grouped());
  }  // rolled back: the failed lock wait is undone with it
  f.other.scalar("ROLLBACK");
  outer.commit();
  auto leased = f.store.lease("jobs", 10, f.clock.now(), 30s);
  REQUIRE(leased.size() == 1);
  CHECK(herald::decode<job>(leased[0].body).data.n == 1);
}

TEST_CASE(
    "postgres store: a worker's batch settles in one transaction, and a stale lease is "
    "refused without harm to the rest",
    "[queue][postgres]") {
  fixture f;
  for (int n = 1; n <= 4; ++n) f.jobs.send(job{n, ""});
  auto first = f.store.lease("jobs", 3, f.clock.now(), 10s);
  REQUIRE(first.size() == 3);
  f.clock.advance(11s);  // the third's lease expires, and another worker takes it
  auto stolen = f.store.lease("jobs", 1, f.clock.now(), 30s);
  REQUIRE(stolen.size() == 1);
  REQUIRE(stolen[0].seq == first[0].seq);  // the oldest expired first
  std::vector<herald::settlement> batch{
      {first[0], herald::settlement::ack, f.clock.now(), {}},  // stale: the other holds it
      {first[1], herald::settlement::retry, f.clock.now() + 1h, "try later"},
      {first[2], herald::settlement::dead_letter, f.clock.now(), "poison"},
  };
  // The leases of first[1] and first[2] expired too, but nobody took them: still theirs.
  auto r = f.store.settle_and_lease("jobs", batch, 5, f.clock.now(), 30s);
  CHECK(r.held == std::vector<char>{0, 1, 1});
  REQUIRE(r.leased.size() == 1);  // the fourth; the first is held, the second delayed
  CHECK(herald::decode<job>(r.leased[0].body).data.n == 4);
  auto rest = f.store.settle_and_lease(
      "jobs",
      std::vector<herald::settlement>{{stolen[0], herald::settlement::ack, f.clock.now(), {}},
                                      {r.leased[0], herald::settlement::ack, f.clock.now(), {}}},
      0, f.clock.now(), 30s);
  CHECK(rest.held == std::vector<char>{1, 1});
  const auto s = f.jobs.stats();
  CHECK(s.depth == 0);
  CHECK(s.delayed == 1);
  CHECK(s.dead_lettered == 1);
  CHECK(s.in_flight == 0);
}

TEST_CASE(
    "postgres store: a send inside the user's own transaction wakes other processes' "
    "workers at the user's COMMIT",
    "[queue][postgres][threads]") {
  fixture f;
  herald::postgres_options o;
  o.schema = f.schema.name();
  herald::postgres_store there(f.schema.url(), o);  // another process's store, listening
  herald::queue<job, herald::postgres_store> theirs(there, "jobs");
  herald_test::signal_box handled;
  herald::worker_options options;
  options.poll_interval = 1h;  // only a notification can wake it in time
  herald::worker w(
      theirs, [&](const job&) { handled.bump(); }, options);
  w.start();
  f.mine.scalar("BEGIN");
  {
    auto tx = f.store.begin(f.mine.get());
    f.jobs.send(tx, job{1, ""});
    tx.commit();
  }
  f.mine.scalar("COMMIT");
  REQUIRE(handled.wait_for_count(1));
  CHECK(w.stop().in_time);
}

TEST_CASE("postgres store: a batch goes in as one statement, in order, whatever its text holds",
          "[queue][postgres]") {
  fixture f;
  const std::vector<std::string> texts{"plain",    "a \"quoted\" word", "back\\slash\\",
                                       "{braces}", "comma, and space",  "NULL",
                                       "",         "ünïcödé ✓",         "new\nline"};
  std::vector<job> batch;
  for (std::size_t i = 0; i < texts.size(); ++i)
    batch.push_back(job{static_cast<int>(i), texts[i]});
  f.jobs.send_batch(batch);
  auto leased = f.store.lease("jobs", 100, f.clock.now(), 30s);
  REQUIRE(leased.size() == texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto m = herald::decode<job>(leased[i].body);
    CHECK(m.data.n == static_cast<int>(i));
    CHECK(m.data.group == texts[i]);
    CHECK(leased[i].id == m.id);
  }
  herald::send_options odd;
  odd.group = "g \"x\" \\ ,{}";
  f.jobs.send_batch(batch, odd);
  auto head = f.store.lease("jobs", 100, f.clock.now(), 30s);
  REQUIRE(head.size() == 1);  // one of a group at a time
  CHECK(head[0].group == odd.group);
  CHECK(herald::decode<job>(head[0].body).data.n == 0);
}

TEST_CASE(
    "postgres store: a transaction handed to another thread and dropped there never lets a "
    "commit report success for what it rolled back, and the store is usable after",
    "[queue][postgres][transaction][reliability]") {
  fixture f;
  auto depth = [&] { return f.jobs.stats().depth; };
  std::optional<herald::postgres_store::transaction> tx1(f.store.begin());
  f.jobs.send(*tx1, job{1, ""});
  std::promise<void> go;
  std::string refusal;
  std::thread b([&, handed = std::move(tx1)]() mutable {
    go.get_future().wait();
    try {
      f.jobs.send(*handed, job{2, ""});  // a task given the transaction
    } catch (const herald::error& e) {
      if (e.code() == herald::errc::invalid_argument) refusal = e.what();
    }
    handed.reset();  // dropped here, uncommitted
  });
  // Thread A still has tx1 open on it: its begin() nests there (the rule).
  auto tx2 = f.store.begin();
  f.jobs.send(tx2, job{3, ""});
  go.set_value();
  b.join();
  CHECK_THAT(refusal, Catch::Contains("thread other than the one that began it"));
  CHECK_THROWS_WITH(tx2.commit(), Catch::Contains("destroyed on another thread") &&
                                      Catch::Contains("nothing of it was written"));
  CHECK(depth() == 0);
  {
    auto tx3 = f.store.begin();  // a transaction of its own, not a savepoint in tx1
    f.jobs.send(tx3, job{4, ""});
    tx3.commit();
  }
  CHECK(depth() == 1);
  // Dropped on another thread before this thread begins again: begin() says
  // so, and the next one is fresh.
  std::optional<herald::postgres_store::transaction> tx4(f.store.begin());
  f.jobs.send(*tx4, job{5, ""});
  std::thread([handed = std::move(tx4)]() mutable { handed.reset(); }).join();
  CHECK_THROWS_WITH(f.store.begin(), Catch::Contains("destroyed on another thread"));
  {
    auto tx5 = f.store.begin();
    f.jobs.send(tx5, job{6, ""});
    tx5.commit();
  }
  auto leased = f.store.lease("jobs", 10, f.clock.now(), 30s);
  REQUIRE(leased.size() == 2);
  CHECK(herald::decode<job>(leased[0].body).data.n == 4);
  CHECK(herald::decode<job>(leased[1].body).data.n == 6);
}

TEST_CASE(
    "postgres store: work committed in a savepoint of a transaction that another thread then "
    "dropped is never lost silently: the owner's next call throws",
    "[queue][postgres][transaction][reliability]") {
  fixture f;
  std::optional<herald::postgres_store::transaction> tx1(f.store.begin());
  std::promise<void> drop;
  std::thread b([&, handed = std::move(tx1)]() mutable {
    drop.get_future().wait();
    handed.reset();  // dropped here, uncommitted, after tx2's commit() returned
  });
  {
    auto tx2 = f.store.begin();  // a savepoint in tx1: this thread still has it open
    f.jobs.send(tx2, job{1, ""});
    tx2.commit();  // released into tx1, which is now only B's to end
  }
  drop.set_value();
  b.join();
  try {
    (void)f.store.begin();
    FAIL("the next call should have said that the committed work was rolled back");
  } catch (const herald::error& e) {
    CHECK(e.code() == herald::errc::invalid_argument);
    CHECK_THAT(e.what(),
               Catch::Contains("committed inside it") && Catch::Contains("thread that began it"));
  }
  CHECK(f.jobs.stats().depth == 0);  // what the exception said; the store works again
  {
    auto tx3 = f.store.begin();
    f.jobs.send(tx3, job{2, ""});
    tx3.commit();  // a commit that reports success committed
  }
  CHECK(f.jobs.stats().depth == 1);
}

TEST_CASE(
    "postgres store: commit() of a nested transaction whose enclosing savepoint rolled back "
    "throws, also once its level was released into one that rolled back",
    "[queue][postgres][transaction]") {
  fixture f;
  auto tx1 = f.store.begin();
  {
    std::optional<herald::postgres_store::transaction> tx2(f.store.begin());
    auto tx3 = f.store.begin();
    f.jobs.send(tx3, job{1, ""});
    tx2.reset();                 // rolls back tx3's send with it
    auto tx4 = f.store.begin();  // begun where tx2 was: not tx3's savepoint
    auto tx5 = f.store.begin();  // begun where tx3 was
    f.jobs.send(tx5, job{2, ""});
    CHECK_THROWS_WITH(tx3.commit(), Catch::Contains("rolled back first"));
    tx5.commit();
    tx4.commit();
  }
  {
    std::optional<herald::postgres_store::transaction> tx6(f.store.begin());
    auto tx7 = f.store.begin();
    auto tx8 = f.store.begin();
    f.jobs.send(tx8, job{3, ""});
    tx7.commit();  // releases tx8's savepoint into tx6
    tx6.reset();   // which rolls back
    CHECK_THROWS_WITH(tx8.commit(), Catch::Contains("rolled back first"));
  }
  tx1.commit();
  auto leased = f.store.lease("jobs", 10, f.clock.now(), 30s);
  REQUIRE(leased.size() == 1);
  CHECK(herald::decode<job>(leased[0].body).data.n == 2);
}
