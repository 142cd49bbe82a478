// SPDX-License-Identifier: MIT
// Durable queues against raw SQLite doing the same statements by hand with
// prepared statements, on the same schema, in WAL mode with synchronous=NORMAL
// (herald's default) on both sides.
// Run: build/release/benchmarks/bench_queue  (ratios print after the table);
// with the PostgreSQL ones (bench_queue_postgres.cpp):
// scripts/with-postgres build/release/benchmarks/bench_queue

#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <herald/queue/queue.hpp>
#include <herald/queue/worker.hpp>
#include <herald/runtime/metrics.hpp>
#include <herald/sqlite/sqlite_store.hpp>
#include <herald/store/memory_store.hpp>
#include <mutex>
#include <string>
#include <vector>

#include "queue_workload.hpp"
#include "ratio_reporter.hpp"
#include "scratch_file.hpp"

namespace {

using herald_bench::now_ns;
using herald_bench::resized;
using herald_bench::worker_throughput;

using herald_bench::scratch_file;

// --- herald ---------------------------------------------------------------

void queue_send(benchmark::State& state) {
  scratch_file file("send");
  herald::sqlite_store store(file.path());
  herald::queue<resized, herald::sqlite_store> q(store, "images");
  for (auto _ : state) q.send(resized{});
  state.SetItemsProcessed(state.iterations());
}

void queue_send_batch(benchmark::State& state) {
  scratch_file file("batch");
  herald::sqlite_store store(file.path());
  herald::queue<resized, herald::sqlite_store> q(store, "images");
  std::vector<resized> batch(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) q.send_batch(batch);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

template <class Store>
void roundtrip(benchmark::State& state, Store& store) {
  herald::queue<resized, Store> q(store, "images");
  int handled = 0;
  herald::worker w(q, [&](const resized&) { ++handled; });
  for (auto _ : state) {
    q.send(resized{});
    w.run_once(std::chrono::system_clock::now());
  }
  if (handled != state.iterations()) state.SkipWithError("a message was not handled");
  state.SetItemsProcessed(state.iterations());
}

void queue_roundtrip_sqlite(benchmark::State& state) {
  scratch_file file("roundtrip");
  herald::sqlite_store store(file.path());
  roundtrip(state, store);
}

void queue_roundtrip_memory(benchmark::State& state) {
  herald::memory_store store;
  roundtrip(state, store);
}

// Lease + ack of messages sent beforehand (in untimed batches of 1000), one
// per run_once at concurrency 1: what plainjob's fastest loop does
// (benchmarks/peers/run-plainjob).
void queue_lease_ack_sqlite(benchmark::State& state) {
  scratch_file file("lease-ack");
  herald::sqlite_store store(file.path());
  herald::queue<resized, herald::sqlite_store> q(store, "images");
  std::vector<resized> chunk(1000);
  int handled = 0;
  herald::worker w(q, [&](const resized&) { ++handled; });
  int left = 0;
  for (auto _ : state) {
    if (left == 0) {
      state.PauseTiming();
      q.send_batch(chunk);
      left = 1000;
      state.ResumeTiming();
    }
    if (w.run_once(std::chrono::system_clock::now()) != 1) state.SkipWithError("nothing leased");
    --left;
  }
  if (handled != state.iterations()) state.SkipWithError("a message was not handled");
  state.SetItemsProcessed(state.iterations());
}

void worker_throughput_sqlite(benchmark::State& state) {
  scratch_file file("worker");
  herald::sqlite_store store(file.path());
  worker_throughput(state, store, static_cast<std::size_t>(state.range(0)));
}

void worker_throughput_memory(benchmark::State& state) {
  herald::memory_store store;
  worker_throughput(state, store, static_cast<std::size_t>(state.range(0)));
}

// The same with every worker metric counted: the cost of metrics on the worker path.
void worker_throughput_memory_metrics(benchmark::State& state) {
  herald::memory_store store;
  herald::metrics_registry metrics;
  worker_throughput(state, store, static_cast<std::size_t>(state.range(0)), &metrics);
}

// --- raw SQLite: the same statements by hand --------------------------------

class raw_queue {
 public:
  explicit raw_queue(const std::string& path) {
    { herald::sqlite_store schema(path); }  // the same tables and indexes
    sqlite3_open(path.c_str(), &db_);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    prepare(insert_,
            "INSERT INTO herald_queue (queue, id, body, grp, enqueued_at, available_at) "
            "VALUES ('images', ?1, ?2, '', ?3, ?3)");
    prepare(lease_,
            "UPDATE herald_queue SET lease = random(), lease_until = ?2, attempts = attempts + 1, "
            "first_attempt_at = coalesce(first_attempt_at, ?1), last_attempt_at = ?1 "
            "WHERE seq IN (SELECT seq FROM herald_queue WHERE queue = 'images' AND dead = 0 "
            "AND available_at <= ?1 AND lease_until <= ?1 ORDER BY seq LIMIT 1) "
            "RETURNING seq, body, lease");
    prepare(ack_, "DELETE FROM herald_queue WHERE seq = ?1 AND lease = ?2");
    // What herald stores: a CloudEvent of the same payload.
    herald::message<resized> m(resized{});
    m.id = "0190f5c8-7e3a-7b2c-9d4e-5f6a7b8c9d0e";
    m.source = "/herald/queue";
    m.time = std::chrono::system_clock::now();
    body_ = herald::encode(m);
  }
  ~raw_queue() {
    for (auto* s : {insert_, lease_, ack_}) sqlite3_finalize(s);
    sqlite3_close(db_);
  }

  void exec(const char* sql) { sqlite3_exec(db_, sql, nullptr, nullptr, nullptr); }

  // What herald's send() does: one message in its own transaction.
  void send(std::int64_t now) {
    exec("BEGIN IMMEDIATE");
    insert(now);
    exec("COMMIT");
  }

  void insert(std::int64_t now) {
    sqlite3_bind_text(insert_, 1, "0190f5c8-7e3a-7b2c-9d4e-5f6a7b8c9d0e", -1, SQLITE_STATIC);
    sqlite3_bind_text(insert_, 2, body_.data(), static_cast<int>(body_.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 3, now);
    step(insert_);
  }

  void lease_and_ack(std::int64_t now) {
    exec("BEGIN IMMEDIATE");
    sqlite3_bind_int64(lease_, 1, now);
    sqlite3_bind_int64(lease_, 2, now + 30'000'000'000);
    std::int64_t seq = 0;
    std::int64_t lease = 0;
    if (sqlite3_step(lease_) == SQLITE_ROW) {
      seq = sqlite3_column_int64(lease_, 0);
      benchmark::DoNotOptimize(sqlite3_column_blob(lease_, 1));
      lease = sqlite3_column_int64(lease_, 2);
    }
    while (sqlite3_step(lease_) == SQLITE_ROW) {
    }
    sqlite3_reset(lease_);
    exec("COMMIT");
    sqlite3_bind_int64(ack_, 1, seq);
    sqlite3_bind_int64(ack_, 2, lease);
    step(ack_);
  }

 private:
  void prepare(sqlite3_stmt*& s, const char* sql) {
    if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) std::abort();
  }
  static void step(sqlite3_stmt* s) {
    if (sqlite3_step(s) != SQLITE_DONE) std::abort();
    sqlite3_reset(s);
  }

  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* lease_ = nullptr;
  sqlite3_stmt* ack_ = nullptr;
  std::string body_;
};

void BM_baseline_sqlite_send(benchmark::State& state) {
  scratch_file file("raw-send");
  raw_queue raw(file.path());
  for (auto _ : state) raw.send(now_ns());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_sqlite_send);

void BM_baseline_sqlite_send_batch(benchmark::State& state) {
  scratch_file file("raw-batch");
  raw_queue raw(file.path());
  for (auto _ : state) {
    raw.exec("BEGIN IMMEDIATE");
    const auto now = now_ns();
    for (int i = 0; i < state.range(0); ++i) raw.insert(now);
    raw.exec("COMMIT");
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_baseline_sqlite_send_batch)->Arg(100);

void BM_baseline_sqlite_roundtrip(benchmark::State& state) {
  scratch_file file("raw-roundtrip");
  raw_queue raw(file.path());
  for (auto _ : state) {
    raw.send(now_ns());
    raw.lease_and_ack(now_ns());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_sqlite_roundtrip);

// One raw single-row INSERT transaction, every statement prepared, BEGIN and
// COMMIT too: what one commit costs with herald's WAL and synchronous settings.
void BM_baseline_sqlite_commit(benchmark::State& state) {
  scratch_file file("raw-commit");
  { herald::sqlite_store schema(file.path()); }
  sqlite3* db = nullptr;
  sqlite3_open(file.path().c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr);
  sqlite3_stmt *begin = nullptr, *insert = nullptr, *commit = nullptr;
  sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, nullptr);
  sqlite3_prepare_v2(db,
                     "INSERT INTO herald_queue (queue, id, body, grp, enqueued_at, available_at) "
                     "VALUES ('images', ?1, ?2, '', ?3, ?3)",
                     -1, &insert, nullptr);
  sqlite3_prepare_v2(db, "COMMIT", -1, &commit, nullptr);
  const std::string body(300, 'x');  // about a CloudEvent's size
  for (auto _ : state) {
    sqlite3_step(begin);
    sqlite3_reset(begin);
    sqlite3_bind_text(insert, 1, "0190f5c8-7e3a-7b2c-9d4e-5f6a7b8c9d0e", -1, SQLITE_STATIC);
    sqlite3_bind_text(insert, 2, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert, 3, now_ns());
    if (sqlite3_step(insert) != SQLITE_DONE) state.SkipWithError("insert failed");
    sqlite3_reset(insert);
    if (sqlite3_step(commit) != SQLITE_DONE) state.SkipWithError("commit failed");
    sqlite3_reset(commit);
  }
  for (auto* s : {begin, insert, commit}) sqlite3_finalize(s);
  sqlite3_close(db);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_sqlite_commit);

const bool registered = [] {
  benchmark::RegisterBenchmark("BM_queue_send/sqlite", queue_send);
  benchmark::RegisterBenchmark("BM_queue_send_batch/sqlite", queue_send_batch)->Arg(100);
  benchmark::RegisterBenchmark("BM_queue_roundtrip/sqlite", queue_roundtrip_sqlite);
  benchmark::RegisterBenchmark("BM_queue_roundtrip/memory", queue_roundtrip_memory);
  benchmark::RegisterBenchmark("BM_queue_lease_ack/sqlite", queue_lease_ack_sqlite);
  for (int c : {1, 4}) {
    benchmark::RegisterBenchmark("BM_worker_throughput/sqlite", worker_throughput_sqlite)
        ->Arg(c)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("BM_worker_throughput/memory", worker_throughput_memory)
      ->Arg(4)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_worker_throughput_metrics/memory",
                               worker_throughput_memory_metrics)
      ->Arg(4)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  return true;
}();

}  // namespace

int main(int argc, char** argv) {
  (void)registered;
  // Target: each herald figure at least 70% of its raw baseline's throughput.
  constexpr double at_least_70_percent = 1.0 / 0.7;
  return herald_bench::run(
      argc, argv,
      {{"BM_queue_send/sqlite", "BM_baseline_sqlite_send", at_least_70_percent},
       {"BM_queue_send_batch/sqlite/100", "BM_baseline_sqlite_send_batch/100", at_least_70_percent},
       {"BM_queue_roundtrip/sqlite", "BM_baseline_sqlite_roundtrip", at_least_70_percent},
       // Handling a message costs less than one raw commit: leases and acks are batched.
       {"BM_worker_throughput/sqlite/4", "BM_baseline_sqlite_commit", 1.0},
       // Metrics on cost at most 5% of the worker path.
       {"BM_worker_throughput_metrics/memory/4", "BM_worker_throughput/memory/4", 1.05},
       // PostgreSQL (bench_queue_postgres.cpp, when a server is named).
       {"BM_queue_send/postgres", "BM_baseline_pg_send", at_least_70_percent},
       {"BM_queue_send_batch/postgres/100", "BM_baseline_pg_send_batch/100", at_least_70_percent},
       // Batched leases and acks: at least twice the raw one-at-a-time roundtrip.
       {"BM_worker_throughput/postgres/4", "BM_baseline_pg_roundtrip/4", 0.5}});
}
