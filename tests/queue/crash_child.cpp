// SPDX-License-Identifier: MIT
// A worker process for the crash tests: works the "crash" queue until it is
// empty, appending one line per handled message to a log before acking it.
// The tests kill it with SIGKILL at random moments (and restart the server).
//
//   crash_child sqlite <database> <log> <visibility ms>
//   crash_child postgres <url> <schema> <log> <visibility ms>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <herald/queue/queue.hpp>
#include <herald/queue/worker.hpp>
#include <herald/sqlite/sqlite_store.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "support/queue_fixtures.hpp"

namespace {

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What every handler does: a line in the log, then (by returning) the ack.
auto logging_handler(int log) {
  return [log, pid = std::to_string(::getpid())](const herald_test::job& j) {
    const long long start = now_ns();
    std::this_thread::sleep_for(std::chrono::microseconds(100));
    // The record of having handled it must exist before the ack.
    std::string line = pid + " " + std::to_string(j.n) + " " + std::to_string(start) + " " +
                       std::to_string(now_ns()) + "\n";
    if (::write(log, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::abort();
  };
}

herald::worker_options crash_options(const char* visibility_ms) {
  herald::worker_options options;
  options.concurrency = 16;  // leased together, handled one by one
  options.visibility_timeout = std::chrono::milliseconds(std::atoi(visibility_ms));
  options.retry.max_attempts = 0;  // never dead-letter: every kill must be survivable
  return options;
}

// SQLite: run_once on this thread until the queue is empty.
int work_sqlite(const char* path, int log, const char* visibility) {
  herald::sqlite_store store(path);
  herald::queue<herald_test::job, herald::sqlite_store> jobs(store, "crash");
  herald::worker w(jobs, logging_handler(log), crash_options(visibility));
  for (;;) {
    if (w.run_once(std::chrono::system_clock::now()) > 0) continue;
    auto s = jobs.stats();
    if (s.depth + s.in_flight + s.delayed == 0) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

#if HERALD_TEST_POSTGRES
// PostgreSQL: a started worker, as deployments run it, through server
// restarts: opening the store and reading stats retry while the server is away.
int work_postgres(const char* url, const char* schema, int log, const char* visibility) {
  using herald::postgres_store;
  auto retrying = [](auto&& f) {
    for (;;) {
      try {
        return f();
      } catch (const herald::store_error& e) {
        if (!e.transient()) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  };
  herald::postgres_options o;
  o.schema = schema;
  o.pool_size = 4;
  std::unique_ptr<postgres_store> store;
  retrying([&] { store = std::make_unique<postgres_store>(url, o); });
  herald::queue<herald_test::job, postgres_store> jobs(*store, "crash");
  auto options = crash_options(visibility);
  options.poll_interval = std::chrono::milliseconds(50);
  herald::failure_callback quiet([](const herald::failure&) {});  // restarts are expected
  options.failures = &quiet;
  herald::worker w(jobs, logging_handler(log), options);
  w.start();
  for (;;) {
    // A stats read scans the queue: sixteen processes do not need it often.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto s = retrying([&] { return jobs.stats(); });
    if (s.depth + s.in_flight + s.delayed == 0) break;
  }
  w.stop();
  return 0;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  const std::string_view kind = argc > 1 ? argv[1] : "";
  const int log_arg = kind == "postgres" ? 4 : 3;
  if ((kind == "sqlite" && argc != 5) || (kind == "postgres" && argc != 6) ||
      (kind != "sqlite" && kind != "postgres")) {
    std::fprintf(stderr,
                 "usage: crash_child sqlite <database> <log> <visibility ms>\n"
                 "       crash_child postgres <url> <schema> <log> <visibility ms>\n");
    return 2;
  }
  const int log = ::open(argv[log_arg], O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log < 0) {
    std::perror("crash_child: opening the log");
    return 2;
  }
  if (kind == "sqlite") return work_sqlite(argv[2], log, argv[4]);
#if HERALD_TEST_POSTGRES
  return work_postgres(argv[2], argv[3], log, argv[5]);
#else
  std::fprintf(stderr, "crash_child: built without the postgres store\n");
  return 2;
#endif
}
