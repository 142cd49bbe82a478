// SPDX-License-Identifier: MIT
// Transactions are bound to their store, and one reentrancy rule holds for
// every store: a call on the thread holding the open transaction joins it.
#include <atomic>
#include <chrono>
#include <herald/queue/queue.hpp>
#include <herald/testing/manual_clock.hpp>
#include <thread>

#include "catch.hpp"
#include "support/queue_fixtures.hpp"

using namespace std::chrono_literals;
using herald_test::job;

namespace {

template <class Fixture>
struct two_stores {
  herald::manual_clock clock;
  Fixture a, b;
  herald::queue<job, decltype(Fixture::store)> on_a{a.store, "jobs", {.clock = clock}};
  herald::queue<job, decltype(Fixture::store)> on_b{b.store, "jobs", {.clock = clock}};
};

template <class Queue>
std::size_t total(Queue& q) {
  auto s = q.stats();
  return s.depth + s.in_flight + s.delayed + s.dead_lettered;
}

}  // namespace

TEMPLATE_TEST_CASE("transaction: another store's transaction is refused, and nothing is stored",
                   "[queue][transaction][conformance]", QUEUE_STORES) {
  two_stores<TestType> t;
  {
    auto tx = t.b.store.begin();
    try {
      t.on_a.send(tx, job{1, ""});
      FAIL("a transaction of store b was accepted by a queue on store a");
    } catch (const herald::error& e) {
      CHECK(e.code() == herald::errc::foreign_transaction);
      CHECK_THAT(e.what(), Catch::Contains("begun on another store"));
    }
    // tx rolls back here
  }
  CHECK(total(t.on_a) == 0);
  CHECK(total(t.on_b) == 0);
}

TEMPLATE_TEST_CASE("transaction: one that has ended cannot be used again",
                   "[queue][transaction][conformance]", QUEUE_STORES) {
  two_stores<TestType> t;
  auto tx = t.a.store.begin();
  t.on_a.send(tx, job{1, ""});
  tx.commit();
  CHECK_THROWS_WITH(t.on_a.send(tx, job{2, ""}), Catch::Contains("already ended"));
  CHECK_THROWS_AS(tx.commit(), herald::error);
  CHECK(total(t.on_a) == 1);
}

TEMPLATE_TEST_CASE("transaction: calls on its thread join it and roll back with it",
                   "[queue][transaction][conformance]", QUEUE_STORES) {
  two_stores<TestType> t;
  auto& store = t.a.store;
  t.on_a.send(job{1, ""});
  {
    auto tx = store.begin();
    t.on_a.send(tx, job{2, ""});
    CHECK(t.on_a.stats().depth == 2);  // its own sends are visible inside it
    auto leased = store.lease("jobs", 10, t.clock.now(), 30s);
    REQUIRE(leased.size() == 2);
    CHECK(store.ack("jobs", leased[0]));
    // rolled back: the send, the lease and the ack are undone
  }
  auto s = t.on_a.stats();
  CHECK(s.depth == 1);
  CHECK(s.in_flight == 0);
  auto again = store.lease("jobs", 10, t.clock.now(), 30s);
  REQUIRE(again.size() == 1);
  CHECK(again[0].attempts == 1);  // the rolled-back lease does not count
  {
    auto tx = store.begin();
    CHECK(store.ack("jobs", again[0]));
    tx.commit();
  }
  CHECK(total(t.on_a) == 0);
}

TEMPLATE_TEST_CASE("transaction: a begin() inside one is nested, and rolls back alone",
                   "[queue][transaction][conformance]", QUEUE_STORES) {
  two_stores<TestType> t;
  auto& store = t.a.store;
  {
    auto outer = store.begin();
    t.on_a.send(outer, job{1, ""});
    {
      auto inner = store.begin();
      t.on_a.send(inner, job{2, ""});
    }  // rolled back: job 2 only
    {
      auto inner = store.begin();
      t.on_a.send(inner, job{3, ""});
      inner.commit();  // part of the outer one now
    }
    outer.commit();
  }
  auto leased = store.lease("jobs", 10, t.clock.now(), 30s);
  REQUIRE(leased.size() == 2);
  CHECK(herald::decode<job>(leased[0].body).data.n == 1);
  CHECK(herald::decode<job>(leased[1].body).data.n == 3);
  {
    auto outer = store.begin();
    auto inner = store.begin();
    t.on_a.send(inner, job{4, ""});
    inner.commit();
  }  // the outer one rolls back what the inner one committed into it
  CHECK(total(t.on_a) == 2);
}

// One-connection stores make the other thread wait; PostgreSQL lets it read
// what is committed. Neither shows it the message before the commit.
TEMPLATE_TEST_CASE("transaction: another thread's call never sees it uncommitted",
                   "[queue][transaction][conformance]", QUEUE_STORES) {
  two_stores<TestType> t;
  std::atomic<bool> committed{false};
  std::atomic<bool> saw_uncommitted{false};
  auto tx = t.a.store.begin();
  t.on_a.send(tx, job{1, ""});
  std::thread other([&] {
    auto depth = t.on_a.stats().depth;
    if (depth > 1 || (depth == 1 && !committed.load())) saw_uncommitted = true;
  });
  std::this_thread::sleep_for(20ms);  // give it the chance to look too early
  committed = true;
  tx.commit();
  other.join();
  CHECK_FALSE(saw_uncommitted.load());
}
