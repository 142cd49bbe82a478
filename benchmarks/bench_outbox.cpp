// SPDX-License-Identifier: MIT
// The outbox against raw SQLite doing the same work by hand: staging (a
// business row and an event in one transaction) against two prepared
// inserts, and relaying to an in-process topic against the raw batched
// read-and-mark loop. Same file settings on both sides (WAL, synchronous=NORMAL).
// Run: build/release/benchmarks/bench_outbox  (ratios print after the table);
// with the PostgreSQL ones (bench_outbox_postgres.cpp):
// scripts/with-postgres build/release/benchmarks/bench_outbox

#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <herald/outbox/outbox.hpp>
#include <herald/outbox/relay.hpp>
#include <herald/sqlite/sqlite_outbox.hpp>
#include <herald/topic/topic.hpp>
#include <herald/transport/inproc.hpp>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "outbox_workload.hpp"
#include "ratio_reporter.hpp"
#include "scratch_file.hpp"

namespace {

using herald_bench::scratch_file;

using herald_bench::encoded;
using herald_bench::order_placed;
using herald_bench::relay_batch;
using herald_bench::relayed_per_iteration;

void exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db) + " in: " + sql);
  }
}

struct prepared {
  sqlite3_stmt* s = nullptr;
  prepared(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db));
    }
  }
  ~prepared() { sqlite3_finalize(s); }
  prepared(const prepared&) = delete;
  prepared& operator=(const prepared&) = delete;
  void done() {
    if (sqlite3_step(s) != SQLITE_DONE) throw std::runtime_error("sqlite: step failed");
    sqlite3_reset(s);
  }
};

const char* const business_table =
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total REAL)";

// --- herald ---------------------------------------------------------------

void BM_outbox_stage_sqlite(benchmark::State& state) {
  scratch_file file("outbox-stage");
  herald::sqlite_store store(file.path());
  exec(store.connection(), business_table);
  herald::outbox<herald::sqlite_store> box(store, {.destination = "orders"});
  prepared insert(store.connection(), "INSERT INTO orders (customer, total) VALUES (?1, ?2)");
  long n = 0;
  for (auto _ : state) {
    auto tx = box.store().begin();
    sqlite3_bind_text(insert.s, 1, "customer-7", -1, SQLITE_STATIC);
    sqlite3_bind_double(insert.s, 2, 99.5);
    insert.done();
    box.stage(tx, order_placed{++n, "customer-7", 99.5}, {.key = "customer-7"});
    tx.commit();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_outbox_stage_sqlite)->Name("BM_outbox_stage/sqlite");

void BM_relay_throughput_sqlite(benchmark::State& state) {
  scratch_file file("outbox-relay");
  herald::sqlite_store store(file.path());
  herald_bench::relay_throughput(state, store);
}
BENCHMARK(BM_relay_throughput_sqlite)->Name("BM_relay_throughput/sqlite");

// --- raw SQLite -------------------------------------------------------------

// Both inserts by hand, every statement prepared, on a file herald made (the
// same schema and settings); the event is encoded beforehand.
void BM_baseline_sqlite_two_inserts(benchmark::State& state) {
  scratch_file file("outbox-raw-stage");
  { herald::sqlite_store schema(file.path()); }
  sqlite3* db = nullptr;
  sqlite3_open(file.path().c_str(), &db);
  exec(db, "PRAGMA journal_mode=WAL");
  exec(db, "PRAGMA synchronous=NORMAL");
  exec(db, business_table);
  const std::string body = encoded({1, "customer-7", 99.5});
  {
    prepared begin(db, "BEGIN IMMEDIATE"), commit(db, "COMMIT");
    prepared business(db, "INSERT INTO orders (customer, total) VALUES (?1, ?2)");
    prepared event(db,
                   "INSERT INTO herald_outbox (id, destination, key, part, body, staged_at) "
                   "VALUES (?1, 'orders', 'customer-7', 3, ?2, ?3)");
    long n = 0;
    for (auto _ : state) {
      begin.done();
      sqlite3_bind_text(business.s, 1, "customer-7", -1, SQLITE_STATIC);
      sqlite3_bind_double(business.s, 2, 99.5);
      business.done();
      const std::string id = std::to_string(++n);
      sqlite3_bind_text(event.s, 1, id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_blob(event.s, 2, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
      sqlite3_bind_int64(event.s, 3, n);
      event.done();
      commit.done();
    }
  }
  sqlite3_close(db);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_sqlite_two_inserts);

// The raw relay loop: read a batch of unsent rows in order, publish each
// body to the same in-process topic, mark the batch sent in one transaction.
void BM_baseline_sqlite_select_update(benchmark::State& state) {
  scratch_file file("outbox-raw-relay");
  { herald::sqlite_store schema(file.path()); }
  sqlite3* db = nullptr;
  sqlite3_open(file.path().c_str(), &db);
  exec(db, "PRAGMA journal_mode=WAL");
  exec(db, "PRAGMA synchronous=NORMAL");
  herald::inproc_transport transport;
  herald::topic<order_placed> topic(transport, "orders");
  long received = 0;
  auto sub = topic.subscribe([&](const order_placed&) { ++received; });
  long n = 0;
  {
    prepared begin(db, "BEGIN IMMEDIATE"), commit(db, "COMMIT");
    prepared stage(db,
                   "INSERT INTO herald_outbox (id, destination, key, part, body, staged_at) "
                   "VALUES (?1, 'orders', ?2, 0, ?3, 0)");
    prepared select(db, "SELECT seq, body FROM herald_outbox WHERE sent = 0 ORDER BY seq LIMIT ?1");
    prepared mark(db, "UPDATE herald_outbox SET sent = 1, sent_at = ?2 WHERE seq = ?1");
    for (auto _ : state) {
      state.PauseTiming();
      begin.done();
      for (long i = 0; i < relayed_per_iteration; ++i) {
        ++n;
        const std::string key = "customer-" + std::to_string(n % 64);
        const std::string body = encoded({n, key, 10.0});
        const std::string id = std::to_string(n);
        sqlite3_bind_text(stage.s, 1, id.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(stage.s, 2, key.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(stage.s, 3, body.data(), static_cast<int>(body.size()), SQLITE_TRANSIENT);
        stage.done();
      }
      commit.done();
      state.ResumeTiming();
      for (;;) {
        std::vector<std::pair<std::int64_t, std::string>> batch;
        sqlite3_bind_int64(select.s, 1, relay_batch);
        while (sqlite3_step(select.s) == SQLITE_ROW) {
          batch.emplace_back(
              sqlite3_column_int64(select.s, 0),
              std::string(static_cast<const char*>(sqlite3_column_blob(select.s, 1)),
                          static_cast<std::size_t>(sqlite3_column_bytes(select.s, 1))));
        }
        sqlite3_reset(select.s);
        if (batch.empty()) break;
        for (auto& [seq, body] : batch) {
          transport.publish("orders", herald::wire_message{"orders", std::move(body)});
        }
        begin.done();
        for (const auto& [seq, body] : batch) {
          sqlite3_bind_int64(mark.s, 1, seq);
          sqlite3_bind_int64(mark.s, 2, 1);
          mark.done();
        }
        commit.done();
      }
    }
  }
  sqlite3_close(db);
  if (received != n) state.SkipWithError("the raw loop lost messages");
  state.SetItemsProcessed(state.iterations() * relayed_per_iteration);
}
BENCHMARK(BM_baseline_sqlite_select_update);

}  // namespace

int main(int argc, char** argv) {
  return herald_bench::run(
      argc, argv,
      {// Staging costs at most 1.3x the two inserts by hand.
       {"BM_outbox_stage/sqlite", "BM_baseline_sqlite_two_inserts", 1.3},
       // The relay moves at least 70% of the raw loop's messages per second.
       {"BM_relay_throughput/sqlite", "BM_baseline_sqlite_select_update", 1.0 / 0.7},
       // PostgreSQL (bench_outbox_postgres.cpp, when a server is named).
       {"BM_outbox_stage/postgres", "BM_baseline_pg_two_inserts", 1.3},
       {"BM_relay_throughput/postgres", "BM_baseline_pg_select_update", 1.0 / 0.7}});
}
