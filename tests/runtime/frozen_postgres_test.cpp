// SPDX-License-Identifier: MIT
// Stopping while the PostgreSQL server does not answer: every process of the
// throwaway cluster is stopped with SIGSTOP, which is what a partition that
// drops packets looks like to libpq (no error, no answer). They freeze the
// server every PostgreSQL test shares: run alone (see tests/CMakeLists.txt).
#include <dirent.h>
#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <herald/outbox/relay.hpp>
#include <herald/postgres/postgres_outbox.hpp>
#include <herald/postgres/postgres_store.hpp>
#include <herald/queue/queue.hpp>
#include <herald/queue/worker.hpp>
#include <herald/runtime/host.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support/failure_recorder.hpp"
#include "support/postgres_server.hpp"
#include "support/queue_fixtures.hpp"
#include "support/signal_box.hpp"

using namespace std::chrono_literals;
using herald_test::job;

namespace {

// What host.stop(deadline) may take past its deadline (docs/runtime.md): the
// calls abandoned at the deadline fail, and the threads waiting on them end.
constexpr auto grace = 2s;

// Every process of the cluster scripts/with-postgres started, stopped with
// SIGSTOP until this goes (also when a check failed). A shell in the
// background sends SIGCONT after a minute as well, should this process die
// frozen-handed.
class frozen_server {
 public:
  frozen_server() {
    const char* data = std::getenv("HERALD_TEST_POSTGRES_DATA");
    REQUIRE(data != nullptr);
    std::ifstream in(std::string(data) + "/postmaster.pid");
    pid_t postmaster = 0;
    in >> postmaster;
    REQUIRE(postmaster > 0);
    pids_ = children_of(postmaster);
    pids_.push_back(postmaster);
    std::string list;
    for (pid_t p : pids_) list += " " + std::to_string(p);
    const std::string rescue = "(sleep 60; kill -CONT" + list + ") >/dev/null 2>&1 &";
    REQUIRE(std::system(rescue.c_str()) == 0);
    for (pid_t p : pids_) ::kill(p, SIGSTOP);
  }
  ~frozen_server() { thaw(); }
  frozen_server(const frozen_server&) = delete;
  frozen_server& operator=(const frozen_server&) = delete;

  void thaw() noexcept {
    for (pid_t p : pids_) ::kill(p, SIGCONT);
  }

 private:
  // From /proc/<pid>/stat: "pid (comm) state ppid ...", comm may hold spaces.
  static std::vector<pid_t> children_of(pid_t parent) {
    std::vector<pid_t> out;
    DIR* proc = ::opendir("/proc");
    REQUIRE(proc != nullptr);
    while (dirent* e = ::readdir(proc)) {
      const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
      if (pid <= 0) continue;
      std::ifstream stat("/proc/" + std::string(e->d_name) + "/stat");
      std::string line;
      std::getline(stat, line);
      const auto close = line.rfind(')');
      if (close == std::string::npos) continue;
      std::istringstream rest(line.substr(close + 1));
      char state = 0;
      pid_t ppid = 0;
      rest >> state >> ppid;
      if (ppid == parent) out.push_back(pid);
    }
    ::closedir(proc);
    return out;
  }

  std::vector<pid_t> pids_;
};

// Freezes the server, stops the host with `deadline` on another thread, asks
// for its health meanwhile, and thaws the server once the stop returned or
// long after it should have. Returns how long the stop took.
std::chrono::steady_clock::duration stop_frozen(herald::host& host, std::chrono::seconds deadline) {
  std::optional<frozen_server> frozen;
  frozen.emplace();
  std::this_thread::sleep_for(300ms);  // the parts' next store calls now wait for the server
  std::atomic<bool> stopped{false};
  const auto started = std::chrono::steady_clock::now();
  std::jthread stopper([&] {
    host.stop(deadline);
    stopped = true;
  });
  std::this_thread::sleep_for(200ms);  // the stop is under way, waiting for the parts
  const auto asked = std::chrono::steady_clock::now();
  const std::string health = host.health_json();
  CHECK(std::chrono::steady_clock::now() - asked < 1s);  // answered during the stop
  CHECK_THAT(health, Catch::Contains("\"parts\""));
  while (!stopped && std::chrono::steady_clock::now() - started < deadline + grace + 10s) {
    std::this_thread::sleep_for(10ms);
  }
  const auto took = std::chrono::steady_clock::now() - started;
  frozen.reset();  // thawed: a stop that still waits ends now
  stopper.join();
  WARN("host.stop(" << deadline.count() << " s) with the server frozen took "
                    << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                    << " ms");
  return took;
}

}  // namespace

TEST_CASE(
    "host: a worker stops within its deadline plus the grace while PostgreSQL does not answer",
    "[.][postgres-freeze]") {
  herald_test::postgres_schema s;
  herald::postgres_store store(s.url(), {.schema = s.name(), .connect_timeout = 1s});
  herald::queue<job, herald::postgres_store> jobs(store, "jobs");
  herald_test::signal_box handled;
  herald::worker_options options;
  options.poll_interval = 10ms;
  herald::worker w(
      jobs, [&](const job&) { handled.bump(); }, options);
  herald_test::failure_recorder failures;
  herald::host host({.failures = &failures});
  host.add(w);
  host.start();
  jobs.send(job{1, ""});
  REQUIRE(handled.wait_for_count(1));
  CHECK(stop_frozen(host, 2s) < 2s + grace);
  jobs.send(job{2, ""});  // the store works again once the server answers
  CHECK(jobs.stats().depth == 1);
}

TEST_CASE("host: a relay stops within its deadline plus the grace while PostgreSQL does not answer",
          "[.][postgres-freeze]") {
  herald_test::postgres_schema s;
  herald::postgres_store store(s.url(), {.schema = s.name(), .connect_timeout = 1s});
  herald::outbox<herald::postgres_store> box(store, {.destination = "orders"});
  herald_test::signal_box published;
  herald::relay_options options;
  options.poll_interval = 10ms;
  herald::relay relay(
      box, [&](const herald::outbox_record&) { published.bump(); }, options);
  herald_test::failure_recorder failures;
  herald::host host({.failures = &failures});
  host.add(relay);
  host.start();
  {
    auto tx = store.begin();
    box.stage(tx, job{1, ""});
    tx.commit();
  }
  REQUIRE(published.wait_for_count(1));
  // Published is not yet marked sent: freeze only once it is, so that what the
  // store holds afterwards shows that it answers again, not where the stop fell.
  const auto marked_by = std::chrono::steady_clock::now() + 30s;
  while (box.stats().backlog != 0 && std::chrono::steady_clock::now() < marked_by) {
    std::this_thread::sleep_for(5ms);
  }
  REQUIRE(box.stats().backlog == 0);
  CHECK(stop_frozen(host, 2s) < 2s + grace);
  CHECK(box.stats().backlog == 0);  // the store works again once the server answers
}
