// SPDX-License-Identifier: MIT
// A worker process for the crash tests: works the "crash" queue of an SQLite
// file until it is empty, appending one line per handled message to a log
// before acking it. The tests kill it with SIGKILL at random moments.
//
//   crash_child <database> <log> <visibility ms>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <herald/queue/queue.hpp>
#include <herald/queue/worker.hpp>
#include <herald/sqlite/sqlite_store.hpp>
#include <string>
#include <thread>

#include "support/queue_fixtures.hpp"

namespace {

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: crash_child <database> <log> <visibility ms>\n");
    return 2;
  }
  const int log = ::open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log < 0) {
    std::perror("crash_child: opening the log");
    return 2;
  }
  herald::sqlite_store store(argv[1]);
  herald::queue<herald_test::job, herald::sqlite_store> jobs(store, "crash");
  herald::worker_options options;
  options.concurrency = 16;  // leased together, handled one by one
  options.visibility_timeout = std::chrono::milliseconds(std::atoi(argv[3]));
  options.retry.max_attempts = 0;  // never dead-letter: every kill must be survivable
  const std::string pid = std::to_string(::getpid());
  herald::worker w(
      jobs,
      [&](const herald_test::job& j) {
        const long long start = now_ns();
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        // The record of having handled it must exist before the ack.
        std::string line = pid + " " + std::to_string(j.n) + " " + std::to_string(start) + " " +
                           std::to_string(now_ns()) + "\n";
        if (::write(log, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
          std::abort();
      },
      options);
  for (;;) {
    if (w.run_once(std::chrono::system_clock::now()) > 0) continue;
    auto s = jobs.stats();
    if (s.depth + s.in_flight + s.delayed == 0) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}
