// SPDX-License-Identifier: MIT
// The PostgreSQL outbox where writers overlap: sequence order is not commit
// order, so a relay must not lose a transaction that commits late, and per
// key the order must still be the order of commits.
#include <atomic>
#include <chrono>
#include <future>
#include <herald/outbox/outbox.hpp>
#include <herald/outbox/relay.hpp>
#include <herald/testing/manual_clock.hpp>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support/outbox_fixtures.hpp"

using namespace std::chrono_literals;
using herald_test::order_placed;

namespace {

struct pg_bench {
  herald_test::postgres_outbox_fixture fixture;
  herald::manual_clock clock;
  herald::outbox<herald::postgres_store> box{fixture.store,
                                             {.destination = "orders", .clock = clock}};
  std::vector<std::pair<std::string, int>> published;  // key, n

  herald::relay_options options() {
    herald::relay_options o;
    o.lease = 30s;
    return o;
  }
  auto target() {
    return [this](const herald::outbox_record& r) {
      published.emplace_back(r.key, herald::decode<order_placed>(r.body).data.n);
    };
  }
  void stage_and_commit(const std::string& key, int n) {
    auto tx = fixture.store.begin();
    box.stage(tx, order_placed{key, n}, {.key = key});
    tx.commit();
  }
};

}  // namespace

TEST_CASE("postgres outbox: a transaction that commits after later ones is not lost",
          "[outbox][postgres]") {
  pg_bench b;
  std::promise<void> staged, release;
  auto late = std::async(std::launch::async, [&] {
    auto tx = b.fixture.store.begin();
    b.box.stage(tx, order_placed{"late", 1}, {.key = "late"});  // the lower sequence number
    staged.set_value();
    release.get_future().wait();
    tx.commit();
  });
  staged.get_future().wait();
  for (int i = 2; i <= 5; ++i) b.stage_and_commit("early-" + std::to_string(i), i);
  herald::relay relay(b.box, b.target(), b.options());
  CHECK(relay.run_once(b.clock.now()) == 4);  // the open one is not visible yet
  release.set_value();
  late.get();
  CHECK(relay.run_once(b.clock.now()) == 1);  // read in a later round: no cursor skipped it
  REQUIRE(b.published.size() == 5);
  CHECK(b.published.back() == std::pair<std::string, int>{"late", 1});
  CHECK(b.box.stats().backlog == 0);
}

TEST_CASE(
    "postgres outbox: per key, a later stage waits for the open one, so seq order is "
    "commit order",
    "[outbox][postgres]") {
  pg_bench b;
  std::promise<void> first_staged, first_commit;
  auto first = std::async(std::launch::async, [&] {
    auto tx = b.fixture.store.begin();
    b.box.stage(tx, order_placed{"k", 1}, {.key = "k"});
    first_staged.set_value();
    first_commit.get_future().wait();
    tx.commit();
  });
  first_staged.get_future().wait();
  std::atomic<bool> second_staged{false};
  auto second = std::async(std::launch::async, [&] {
    auto tx = b.fixture.store.begin();
    b.box.stage(tx, order_placed{"k", 2}, {.key = "k"});  // waits for the key's lock
    second_staged = true;
    tx.commit();
  });
  b.stage_and_commit("other", 3);  // another key does not wait
  std::this_thread::sleep_for(300ms);
  CHECK_FALSE(second_staged.load());
  first_commit.set_value();
  first.get();
  second.get();
  CHECK(second_staged.load());
  herald::relay relay(b.box, b.target(), b.options());
  CHECK(relay.run_once(b.clock.now()) == 3);
  std::vector<int> k;
  for (const auto& [key, n] : b.published) {
    if (key == "k") k.push_back(n);
  }
  CHECK(k == std::vector<int>{1, 2});
}

TEST_CASE("postgres outbox: staging on the user's own connection commits with the user's rows",
          "[outbox][postgres]") {
  pg_bench b;
  PGconn* mine = PQconnectdb(b.fixture.schema.url().c_str());
  REQUIRE(PQstatus(mine) == CONNECTION_OK);
  const std::string table = b.fixture.schema.name() + ".business";
  herald_test::pg_exec(mine, "BEGIN");
  herald_test::pg_exec(mine, "INSERT INTO " + table + " VALUES (7)");
  {
    auto tx = b.fixture.store.begin(mine);  // a savepoint inside the user's transaction
    b.box.stage(tx, order_placed{"mine", 7}, {.key = "mine"});
    tx.commit();
  }
  herald::relay relay(b.box, b.target(), b.options());
  CHECK(relay.run_once(b.clock.now()) == 0);  // the user has not committed
  herald_test::pg_exec(mine, "ROLLBACK");
  CHECK(relay.run_once(b.clock.now()) == 0);  // nor ever will
  herald_test::pg_exec(mine, "BEGIN");
  herald_test::pg_exec(mine, "INSERT INTO " + table + " VALUES (8)");
  {
    auto tx = b.fixture.store.begin(mine);
    b.box.stage(tx, order_placed{"mine", 8}, {.key = "mine"});
    tx.commit();
  }
  herald_test::pg_exec(mine, "COMMIT");
  CHECK(relay.run_once(b.clock.now()) == 1);
  CHECK(b.published == std::vector<std::pair<std::string, int>>{{"mine", 8}});
  CHECK(b.fixture.business_rows() == 1);
  PQfinish(mine);
}
