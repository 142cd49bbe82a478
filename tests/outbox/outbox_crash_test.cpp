// SPDX-License-Identifier: MIT
// The outbox's guarantees across crashes: relay processes (outbox_crash_child)
// are killed with SIGKILL at chosen points and at random, several at once;
// the consumer behind an inbox must see every message, each effect once, in
// commit order per key.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <herald/outbox/outbox.hpp>
#include <herald/sqlite/sqlite_outbox.hpp>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support/crash_support.hpp"
#include "support/outbox_fixtures.hpp"

namespace {

pid_t spawn_relay(std::vector<std::string> args) {
  std::string self = HERALD_OUTBOX_CHILD;
  std::vector<char*> argv{self.data()};
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv.data(), environ) == 0);
  return pid;
}

// Sizes: CI runs the small ones; HERALD_CRASH_MESSAGES sets a larger run by hand.
int messages_wanted(int ci_size) {
  const char* n = std::getenv("HERALD_CRASH_MESSAGES");
  return n ? std::atoi(n) : ci_size;
}

// The producer's outbox database and the consumer's database.
struct crash_bench {
  herald_test::temp_db outbox_file{"outbox-crash"};
  herald_test::temp_db consumer_file{"outbox-consumer"};
  int messages = 0;
  std::map<std::string, std::vector<int>> staged;  // per key, in commit order

  explicit crash_bench(int n, int keys) : messages(n) {
    {
      herald::sqlite_store consumer(consumer_file.path());
      herald_test::exec(consumer.connection(),
                        "CREATE TABLE effects (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT, "
                        "n INTEGER); CREATE TABLE totals (count INTEGER, sum INTEGER); "
                        "INSERT INTO totals VALUES (0, 0)");
    }
    herald::sqlite_store producer(outbox_file.path());
    herald_test::exec(producer.connection(), "CREATE TABLE orders (n INTEGER)");
    herald::outbox<herald::sqlite_store> box(producer);
    for (int i = 0; i < n; ++i) {
      const std::string key = "k" + std::to_string(i % keys);
      auto tx = producer.begin();
      herald_test::exec(tx.connection(), "INSERT INTO orders VALUES (" + std::to_string(i) + ")");
      box.stage(tx, herald_test::order_placed{key, i}, {.key = key});
      tx.commit();
      staged[key].push_back(i);
    }
  }

  std::vector<std::string> relay_args(const char* mode, long after, long pace_us = 0) const {
    return {"sqlite", outbox_file.path(),    consumer_file.path(),
            mode,     std::to_string(after), std::to_string(pace_us)};
  }

  // Lost and twice-done messages, and whether each key's effects kept its order.
  void check_effects() {
    herald::sqlite_store consumer(consumer_file.path());
    std::map<std::string, std::vector<int>> done;
    std::map<int, int> times;
    {
      auto tx = consumer.begin();
      sqlite3_stmt* s = nullptr;
      sqlite3_prepare_v2(tx.connection(), "SELECT key, n FROM effects ORDER BY seq", -1, &s,
                         nullptr);
      while (sqlite3_step(s) == SQLITE_ROW) {
        const int n = sqlite3_column_int(s, 1);
        done[reinterpret_cast<const char*>(sqlite3_column_text(s, 0))].push_back(n);
        ++times[n];
      }
      sqlite3_finalize(s);
    }
    int lost = 0, twice = 0;
    for (int i = 0; i < messages; ++i) {
      if (times[i] == 0) ++lost;
      if (times[i] > 1) ++twice;
    }
    WARN("outbox crash: " << messages << " messages, lost " << lost << ", done twice " << twice);
    CHECK(lost == 0);
    CHECK(twice == 0);
    CHECK(done == staged);  // every key's effects in commit order
    herald::sqlite_store producer(outbox_file.path());
    herald::outbox<herald::sqlite_store> box(producer);
    CHECK(box.stats().backlog == 0);
  }
};

bool killed(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }

}  // namespace

TEST_CASE("sqlite outbox: a relay killed at each crash point loses nothing, does nothing twice",
          "[outbox][sqlite][crash]") {
  crash_bench b(messages_wanted(120), 7);
  int kills = 0;
  // Between commit and publish, and between publish and mark-sent, at the
  // first delivery, inside a batch (10) and at its end.
  for (const char* mode : {"before_publish", "after_publish"}) {
    for (long after : {1, 4, 10, 13}) {
      const int status = herald_test::wait_for(spawn_relay(b.relay_args(mode, after)));
      INFO(mode << " after " << after);
      REQUIRE(killed(status));
      ++kills;
    }
  }
  CHECK(kills == 8);
  // A relay that lives finishes, once the killed ones' leases run out.
  herald_test::require_clean_exit(herald_test::wait_for(spawn_relay(b.relay_args("none", 0))));
  b.check_effects();
}

TEST_CASE("sqlite outbox: three relay processes at once, killed and restarted at random",
          "[outbox][sqlite][crash]") {
  crash_bench b(messages_wanted(600), 13);
  std::mt19937 random(std::random_device{}());
  std::vector<pid_t> relays;
  auto args = b.relay_args("none", 0, 2000);  // 2 ms per delivery: kills land mid-work
  for (int i = 0; i < 3; ++i) relays.push_back(spawn_relay(args));
  int kills = 0;
  for (int round = 0; round < 12; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + random() % 150));
    auto& victim = relays[random() % relays.size()];
    ::kill(victim, SIGKILL);
    if (killed(herald_test::wait_for(victim))) ++kills;
    victim = spawn_relay(args);
  }
  for (auto pid : relays) herald_test::require_clean_exit(herald_test::wait_for(pid));
  WARN("three relays: " << kills << " of 12 killed while relaying");
  CHECK(kills >= 10);
  b.check_effects();
}
