// SPDX-License-Identifier: MIT
// Durability across crashes: worker processes are killed with SIGKILL at
// random moments and restarted; every message must still be handled.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <herald/queue/queue.hpp>
#include <herald/sqlite/sqlite_store.hpp>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support/crash_support.hpp"
#include "support/queue_fixtures.hpp"

namespace {

using namespace std::chrono_literals;
using herald_test::handled_record;
using herald_test::job;
using herald_test::read_log;
using herald_test::require_clean_exit;
using herald_test::wait_for;

constexpr int visibility_ms = 300;

pid_t spawn_child(const std::string& db, const std::string& log) {
  return herald_test::spawn_crash_child({"sqlite", db, log, std::to_string(visibility_ms)},
                                        HERALD_CRASH_CHILD);
}

void fill(herald::sqlite_store& store, int count) {
  herald::queue<job, herald::sqlite_store> jobs(store, "crash");
  std::vector<job> batch;
  for (int i = 0; i < count; ++i) {
    batch.push_back(job{i, ""});
    if (batch.size() == 1000 || i + 1 == count) {
      jobs.send_batch(batch);
      batch.clear();
    }
  }
}

}  // namespace

TEST_CASE("sqlite queue: SIGKILLed workers lose nothing", "[queue][sqlite][crash]") {
  constexpr int messages = 20000;
  constexpr int kills_wanted = 50;
  herald_test::temp_db db("crash");
  const std::string log = db.path() + ".log";
  std::remove(log.c_str());
  {
    herald::sqlite_store store(db.path());
    fill(store, messages);
  }
  std::mt19937 random(20261123);
  std::uniform_int_distribution<int> after_ms(5, 40);
  int kills = 0;
  int kills_mid_work = 0;
  while (kills < kills_wanted) {
    pid_t child = spawn_child(db.path(), log);
    std::this_thread::sleep_for(std::chrono::milliseconds(after_ms(random)));
    ::kill(child, SIGKILL);
    int status = wait_for(child);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
      ++kills;
      if (read_log(log).size() < static_cast<std::size_t>(messages)) ++kills_mid_work;
    } else {
      REQUIRE(WIFEXITED(status));  // finished before the kill: nothing left to crash on
      break;
    }
  }
  // One last worker runs to the end, after the killed ones' leases expire.
  pid_t last = spawn_child(db.path(), log);
  require_clean_exit(wait_for(last));

  std::map<long long, int> times_handled;
  for (const auto& r : read_log(log)) ++times_handled[r.n];
  int lost = 0;
  int twice = 0;
  for (int i = 0; i < messages; ++i) {
    auto it = times_handled.find(i);
    if (it == times_handled.end()) {
      ++lost;
    } else {
      twice += it->second - 1;
    }
  }
  std::printf("crash test: %d messages, %d SIGKILLs (%d mid-work), lost %d, handled twice %d\n",
              messages, kills, kills_mid_work, lost, twice);
  CHECK(kills_mid_work >= kills_wanted);
  CHECK(lost == 0);
  CHECK(times_handled.size() == static_cast<std::size_t>(messages));
  herald::sqlite_store store(db.path());
  herald::queue<job, herald::sqlite_store> jobs(store, "crash");
  auto s = jobs.stats();
  CHECK(s.depth + s.in_flight + s.delayed + s.dead_lettered == 0);
  std::remove(log.c_str());
}

TEST_CASE("sqlite queue: two worker processes on one file share the work",
          "[queue][sqlite][crash]") {
  constexpr int messages = 4000;
  herald_test::temp_db db("two");
  const std::string log = db.path() + ".log";
  std::remove(log.c_str());
  {
    herald::sqlite_store store(db.path());
    fill(store, messages);
  }
  pid_t a = spawn_child(db.path(), log);
  pid_t b = spawn_child(db.path(), log);
  require_clean_exit(wait_for(a));
  require_clean_exit(wait_for(b));

  std::map<long long, std::vector<handled_record>> by_message;
  std::map<long long, int> by_process;
  for (const auto& r : read_log(log)) {
    by_message[r.n].push_back(r);
    ++by_process[r.pid];
  }
  int lost = 0;
  int overlapping = 0;
  for (int i = 0; i < messages; ++i) {
    auto it = by_message.find(i);
    if (it == by_message.end()) {
      ++lost;
      continue;
    }
    const auto& records = it->second;
    for (std::size_t x = 0; x < records.size(); ++x) {
      for (std::size_t y = x + 1; y < records.size(); ++y) {
        const auto gap = records[x].start > records[y].start ? records[x].start - records[y].start
                                                             : records[y].start - records[x].start;
        if (records[x].pid != records[y].pid && gap < visibility_ms * 1'000'000LL) ++overlapping;
      }
    }
  }
  std::printf(
      "two processes: %d messages, split %d / %d, lost %d, handled by both in one "
      "visibility window %d\n",
      messages, by_process.size() > 0 ? by_process.begin()->second : 0,
      by_process.size() > 1 ? std::next(by_process.begin())->second : 0, lost, overlapping);
  CHECK(lost == 0);
  CHECK(overlapping == 0);
  CHECK(by_process.size() == 2);  // both did some of the work
  std::remove(log.c_str());
}
