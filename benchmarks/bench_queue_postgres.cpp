// SPDX-License-Identifier: MIT
// The PostgreSQL store against raw libpq doing the same work by hand with
// prepared statements, on the same tables, on a server with PostgreSQL's
// defaults (fsync on). Part of bench_queue; registered only when a server
// is named: scripts/with-postgres build/release/benchmarks/bench_queue
// (HERALD_TEST_POSTGRES), or HERALD_BENCH_POSTGRES=<url>.
// HERALD_BENCH_POSTGRES_MESSAGES sets the worker workloads' size (20,000;
// CI's smoke run uses fewer).

#include <benchmark/benchmark.h>
#include <fmt/core.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <herald/postgres/postgres_store.hpp>
#include <string>
#include <thread>
#include <vector>

#include "postgres_bench_schema.hpp"
#include "queue_workload.hpp"

namespace {

using herald_bench::resized;

using herald_bench::bench_schema;
using herald_bench::server;

int workload_size() {
  const char* n = std::getenv("HERALD_BENCH_POSTGRES_MESSAGES");
  return n && std::atoi(n) > 0 ? std::atoi(n) : 20'000;
}

// --- herald -------------------------------------------------------------

void queue_send(benchmark::State& state) {
  bench_schema schema("send");
  herald::postgres_store store(server(), schema.options());
  herald::queue<resized, herald::postgres_store> q(store, "images");
  for (auto _ : state) q.send(resized{});
  state.SetItemsProcessed(state.iterations());
}

void queue_send_batch(benchmark::State& state) {
  bench_schema schema("batch");
  herald::postgres_store store(server(), schema.options());
  herald::queue<resized, herald::postgres_store> q(store, "images");
  std::vector<resized> batch(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) q.send_batch(batch);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void worker_throughput(benchmark::State& state) {
  bench_schema schema("worker");
  auto options = schema.options();
  options.pool_size = static_cast<std::size_t>(state.range(0)) + 2;
  herald::postgres_store store(server(), options);
  herald_bench::worker_throughput(state, store, static_cast<std::size_t>(state.range(0)), nullptr,
                                  workload_size());
}

// Four handlers and `range(0)` messages leased ahead: what a user tunes for
// throughput (the peers' comparison, benchmarks/peers/run-postgres).
void worker_prefetch(benchmark::State& state) {
  bench_schema schema("prefetch");
  herald::postgres_store store(server(), schema.options());
  herald_bench::worker_throughput(state, store, 4, nullptr, workload_size(),
                                  static_cast<std::size_t>(state.range(0)));
}

// --- raw libpq: the same statements by hand -----------------------------

// One connection with herald's insert, lease and delete prepared on the
// tables a herald store created.
class raw_connection {
 public:
  explicit raw_connection(const std::string& schema) : c_(PQconnectdb(server())) {
    if (PQstatus(c_) != CONNECTION_OK) std::abort();
    prepare("insert", "INSERT INTO " + schema +
                          ".queue (queue, id, body, grp, enqueued_at, available_at) "
                          "VALUES ('images', $1, $2, '', $3, $3)");
    prepare("lease", "WITH c AS (SELECT seq FROM " + schema +
                         ".queue WHERE queue = 'images' AND NOT dead AND available_at <= $1 AND "
                         "lease_until <= $1 ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) UPDATE " +
                         schema + ".queue q SET lease = nextval('" + schema +
                         ".lease_token'), lease_until = $2, attempts = q.attempts + 1 FROM c "
                         "WHERE q.seq = c.seq RETURNING q.seq, q.body, q.lease");
    prepare("delete", "DELETE FROM " + schema + ".queue WHERE seq = $1 AND lease = $2");
    herald::message<resized> m(resized{});
    m.id = "0190f5c8-7e3a-7b2c-9d4e-5f6a7b8c9d0e";
    m.source = "/herald/queue";
    m.time = std::chrono::system_clock::now();
    body_ = herald::encode(m);
  }
  ~raw_connection() { PQfinish(c_); }
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  void exec(const char* sql) { check(PQexec(c_, sql)); }

  void insert() {
    const std::string now = std::to_string(herald_bench::now_ns());
    const char* values[] = {"0190f5c8-7e3a-7b2c-9d4e-5f6a7b8c9d0e", body_.c_str(), now.c_str()};
    check(PQexecPrepared(c_, "insert", 3, values, nullptr, nullptr, 0));
  }

  // BEGIN, `n` inserts and COMMIT in one pipeline.
  void insert_batch(int n) {
    const std::string now = std::to_string(herald_bench::now_ns());
    const char* values[] = {"0190f5c8-7e3a-7b2c-9d4e-5f6a7b8c9d0e", body_.c_str(), now.c_str()};
    PQenterPipelineMode(c_);
    PQsendQueryParams(c_, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0);
    for (int i = 0; i < n; ++i) PQsendQueryPrepared(c_, "insert", 3, values, nullptr, nullptr, 0);
    PQsendQueryParams(c_, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 0);
    PQpipelineSync(c_);
    for (int results = 0; results < n + 2;) {
      PGresult* r = PQgetResult(c_);
      if (!r) continue;
      const auto status = PQresultStatus(r);
      PQclear(r);
      if (status == PGRES_COMMAND_OK) ++results;
      if (status != PGRES_COMMAND_OK) {
        std::fprintf(stderr, "raw batch: %s\n", PQresStatus(status));
        std::abort();
      }
    }
    for (bool synced = false; !synced;) {  // nulls end each query's results; then the sync
      PGresult* r = PQgetResult(c_);
      synced = r && PQresultStatus(r) == PGRES_PIPELINE_SYNC;
      PQclear(r);
    }
    PQexitPipelineMode(c_);
  }

  // One lease and one delete, each its own transaction; false if none was ready.
  bool lease_and_delete() {
    const auto now = herald_bench::now_ns();
    const std::string at = std::to_string(now), until = std::to_string(now + 30'000'000'000);
    const char* lease_values[] = {at.c_str(), until.c_str()};
    PGresult* r = PQexecPrepared(c_, "lease", 2, lease_values, nullptr, nullptr, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) std::abort();
    if (PQntuples(r) == 0) {
      PQclear(r);
      return false;
    }
    const std::string seq = PQgetvalue(r, 0, 0), lease = PQgetvalue(r, 0, 2);
    benchmark::DoNotOptimize(PQgetvalue(r, 0, 1));
    PQclear(r);
    const char* delete_values[] = {seq.c_str(), lease.c_str()};
    check(PQexecPrepared(c_, "delete", 2, delete_values, nullptr, nullptr, 0));
    return true;
  }

 private:
  void prepare(const char* name, const std::string& sql) {
    check(PQprepare(c_, name, sql.c_str(), 0, nullptr));
  }
  static void check(PGresult* r) {
    const auto status = PQresultStatus(r);
    PQclear(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) std::abort();
  }
  PGconn* c_;
  std::string body_;
};

void BM_baseline_pg_send(benchmark::State& state) {
  bench_schema schema("raw_send");
  { herald::postgres_store tables(server(), schema.options()); }
  raw_connection raw(schema.name());
  for (auto _ : state) raw.insert();  // one statement: its own transaction
  state.SetItemsProcessed(state.iterations());
}

void BM_baseline_pg_send_batch(benchmark::State& state) {
  bench_schema schema("raw_batch");
  { herald::postgres_store tables(server(), schema.options()); }
  raw_connection raw(schema.name());
  for (auto _ : state) raw.insert_batch(static_cast<int>(state.range(0)));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

// `range(0)` threads, each on its own connection, lease (SKIP LOCKED) and
// delete the messages sent beforehand, one at a time, until none is left.
void BM_baseline_pg_roundtrip(benchmark::State& state) {
  bench_schema schema("raw_roundtrip");
  herald::postgres_store store(server(), schema.options());
  herald::queue<resized, herald::postgres_store> q(store, "images");
  const int messages = workload_size();
  const auto threads = static_cast<std::size_t>(state.range(0));
  std::vector<std::unique_ptr<raw_connection>> raws;
  for (std::size_t i = 0; i < threads; ++i) {
    raws.push_back(std::make_unique<raw_connection>(schema.name()));
  }
  std::vector<resized> chunk(1000);
  for (auto _ : state) {
    state.PauseTiming();
    for (int sent = 0; sent < messages; sent += 1000) {
      q.send_batch(
          std::span(chunk).first(static_cast<std::size_t>(std::min(1000, messages - sent))));
    }
    state.ResumeTiming();
    std::atomic<int> done{0};
    std::vector<std::thread> workers;
    for (auto& raw : raws) {
      workers.emplace_back([&done, r = raw.get()] {
        while (r->lease_and_delete()) done.fetch_add(1, std::memory_order_relaxed);
      });
    }
    for (auto& w : workers) w.join();
    if (done.load() != messages) state.SkipWithError("not every message was worked");
  }
  state.SetItemsProcessed(state.iterations() * messages);
}

[[maybe_unused]] const bool registered = [] {
  if (!server()) {
    fmt::print(stderr,
               "bench_queue: no PostgreSQL named (HERALD_BENCH_POSTGRES or HERALD_TEST_POSTGRES): "
               "the postgres benchmarks are left out; run scripts/with-postgres "
               "build/release/benchmarks/bench_queue\n");
    return false;
  }
  // Waiting for the server is the cost: rates in wall-clock time.
  benchmark::RegisterBenchmark("BM_queue_send/postgres", queue_send)->UseRealTime();
  benchmark::RegisterBenchmark("BM_queue_send_batch/postgres", queue_send_batch)
      ->Arg(100)
      ->UseRealTime();
  for (int c : {1, 4, 16}) {
    benchmark::RegisterBenchmark("BM_worker_throughput/postgres", worker_throughput)
        ->Arg(c)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("BM_worker_prefetch/postgres/4", worker_prefetch)
      ->Arg(100)
      ->Arg(500)
      ->Arg(2000)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_baseline_pg_send", BM_baseline_pg_send)->UseRealTime();
  benchmark::RegisterBenchmark("BM_baseline_pg_send_batch", BM_baseline_pg_send_batch)
      ->Arg(100)
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_baseline_pg_roundtrip", BM_baseline_pg_roundtrip)
      ->Arg(4)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  return true;
}();

}  // namespace
