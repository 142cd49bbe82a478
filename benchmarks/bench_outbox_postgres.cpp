// SPDX-License-Identifier: MIT
// The PostgreSQL outbox against raw libpq doing the same work by hand with
// prepared statements, on the same tables. Part of bench_outbox; registered
// only when a server is named: scripts/with-postgres build/release/benchmarks/bench_outbox
// (HERALD_TEST_POSTGRES), or HERALD_BENCH_POSTGRES=<url>.

#include <benchmark/benchmark.h>
#include <fmt/core.h>
#include <libpq-fe.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <herald/outbox/outbox.hpp>
#include <herald/outbox/relay.hpp>
#include <herald/postgres/postgres_outbox.hpp>
#include <herald/topic/topic.hpp>
#include <herald/transport/inproc.hpp>
#include <string>
#include <vector>

#include "outbox_workload.hpp"
#include "postgres_bench_schema.hpp"

namespace {

using herald_bench::bench_schema;
using herald_bench::order_placed;
using herald_bench::server;

// One libpq connection of the benchmark's own; a failed statement aborts.
class raw_connection {
 public:
  raw_connection() : c_(PQconnectdb(server())) {
    PQsetNoticeProcessor(
        c_, [](void*, const char*) {}, nullptr);
  }
  ~raw_connection() { PQfinish(c_); }
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  PGconn* get() const { return c_; }
  void exec(const std::string& sql) const { check(PQexec(c_, sql.c_str())); }
  void prepare(const char* name, const std::string& sql) const {
    check(PQprepare(c_, name, sql.c_str(), 0, nullptr));
  }
  PGresult* run(const char* name, std::vector<std::string> values) const {
    std::vector<const char*> v;
    for (const auto& s : values) v.push_back(s.c_str());
    PGresult* r =
        PQexecPrepared(c_, name, static_cast<int>(v.size()), v.data(), nullptr, nullptr, 0);
    const auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) check(r);
    return r;
  }

 private:
  static void check(PGresult* r) {
    const auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      std::fprintf(stderr, "bench_outbox: %s\n", PQresultErrorMessage(r));
      std::abort();
    }
    PQclear(r);
  }
  PGconn* c_;
};

std::string business_table(const bench_schema& s) {
  return "CREATE TABLE " + s.name() +
         ".orders (id bigserial PRIMARY KEY, customer text, total "
         "double precision)";
}

void outbox_stage(benchmark::State& state) {
  bench_schema schema("outbox_stage");
  herald::postgres_store store(server(), schema.options());
  herald::outbox<herald::postgres_store> box(store, {.destination = "orders"});
  raw_connection(/*schema setup*/).exec(business_table(schema));
  const std::string insert =
      "INSERT INTO " + schema.name() + ".orders (customer, total) VALUES ('customer-7', 99.5)";
  long n = 0;
  for (auto _ : state) {
    auto tx = store.begin();
    PQclear(PQexec(tx.connection(), insert.c_str()));
    box.stage(tx, order_placed{++n, "customer-7", 99.5}, {.key = "customer-7"});
    tx.commit();
  }
  state.SetItemsProcessed(state.iterations());
}

void relay_throughput(benchmark::State& state) {
  bench_schema schema("outbox_relay");
  herald::postgres_store store(server(), schema.options());
  herald_bench::relay_throughput(state, store);
}

// BEGIN, the business row, the outbox row, COMMIT: each a prepared statement.
void BM_baseline_pg_two_inserts(benchmark::State& state) {
  bench_schema schema("outbox_raw_stage");
  { herald::postgres_store tables(server(), schema.options()); }
  raw_connection raw;
  raw.exec(business_table(schema));
  raw.prepare("business", "INSERT INTO " + schema.name() +
                              ".orders (customer, total) VALUES ('customer-7', 99.5)");
  raw.prepare("event", "INSERT INTO " + schema.name() +
                           ".outbox (id, destination, key, part, body, staged_at) VALUES ($1, "
                           "'orders', 'customer-7', 3, $2, $3)");
  const std::string body = herald_bench::encoded({1, "customer-7", 99.5});
  long n = 0;
  for (auto _ : state) {
    raw.exec("BEGIN");
    PQclear(raw.run("business", {}));
    PQclear(raw.run("event", {std::to_string(++n), body, std::to_string(n)}));
    raw.exec("COMMIT");
  }
  state.SetItemsProcessed(state.iterations());
}

// The raw relay loop: read 100 unsent rows in order, publish each, mark the
// batch sent in one statement.
void BM_baseline_pg_select_update(benchmark::State& state) {
  bench_schema schema("outbox_raw_relay");
  herald::postgres_store store(server(), schema.options());
  herald::outbox<herald::postgres_store> box(store, {.destination = "orders"});
  raw_connection raw;
  raw.prepare("select", "SELECT seq, body FROM " + schema.name() +
                            ".outbox WHERE NOT sent ORDER BY seq LIMIT $1");
  raw.prepare("mark", "UPDATE " + schema.name() +
                          ".outbox SET sent = true, sent_at = 1 WHERE seq = ANY($1::bigint[])");
  herald::inproc_transport transport;
  herald::topic<order_placed> topic(transport, "orders");
  long received = 0;
  auto sub = topic.subscribe([&](const order_placed&) { ++received; });
  long n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    herald_bench::stage_many(store, box, n);  // the same rows herald stages
    state.ResumeTiming();
    for (;;) {
      PGresult* r = raw.run("select", {std::to_string(herald_bench::relay_batch)});
      const int rows = PQntuples(r);
      std::string seqs = "{";
      for (int i = 0; i < rows; ++i) {
        transport.publish("orders", herald::wire_message{"orders", PQgetvalue(r, i, 1)});
        if (i > 0) seqs += ',';
        seqs += PQgetvalue(r, i, 0);
      }
      PQclear(r);
      if (rows == 0) break;
      PQclear(raw.run("mark", {seqs + "}"}));
    }
  }
  if (received != n) state.SkipWithError("the raw loop lost messages");
  state.SetItemsProcessed(state.iterations() * herald_bench::relayed_per_iteration);
}

[[maybe_unused]] const bool registered = [] {
  if (!server()) {
    fmt::print(stderr,
               "bench_outbox: no PostgreSQL named (HERALD_BENCH_POSTGRES or "
               "HERALD_TEST_POSTGRES): the postgres benchmarks are left out; run "
               "scripts/with-postgres build/release/benchmarks/bench_outbox\n");
    return false;
  }
  // Waiting for the server is the cost: rates in wall-clock time.
  benchmark::RegisterBenchmark("BM_outbox_stage/postgres", outbox_stage)->UseRealTime();
  benchmark::RegisterBenchmark("BM_relay_throughput/postgres", relay_throughput)->UseRealTime();
  benchmark::RegisterBenchmark("BM_baseline_pg_two_inserts", BM_baseline_pg_two_inserts)
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_baseline_pg_select_update", BM_baseline_pg_select_update)
      ->UseRealTime();
  return true;
}();

}  // namespace
