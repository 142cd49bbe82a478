// SPDX-License-Identifier: MIT
// A smart home across processes over NATS JetStream: this process is the
// devices, publishing readings on a topic; two other processes form the
// "alerting" group, competing for the readings, so each reading reaches one
// of them; each alert they raise is reported back on another topic. The
// processes share nothing but the broker. At the end this process counts
// who handled which alert: every one, each exactly once.
//
//   HERALD_NATS=nats://127.0.0.1:4222 smart_home_nats
//   scripts/with-nats sh -c 'HERALD_NATS=$HERALD_TEST_NATS build/dev/examples/smart_home_nats'

#include <fmt/core.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <herald/nats/nats_transport.hpp>
#include <herald/topic/topic.hpp>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace home {

struct reading {
  static constexpr std::string_view event_type = "home.device.reported";
  int n = 0;
  std::string device;
  double celsius = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(reading, n, device, celsius)

struct alert_handled {
  static constexpr std::string_view event_type = "home.alert.handled";
  int reading = 0;
  std::string by;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(alert_handled, reading, by)

}  // namespace home

namespace {

using devices_topic = herald::topic<home::reading, herald::nats_transport>;
using alerts_topic = herald::topic<home::alert_handled, herald::nats_transport>;

herald::nats_options options_for(const char* url, const std::string& prefix) {
  herald::nats_options o;
  o.url = url;
  o.stream_prefix = prefix;           // streams of this run alone
  o.start = herald::nats_start::all;  // a member that joins late still gets what came before
  return o;
}

// An alerting process: a member of the group until SIGTERM.
int alerting(const char* url, const std::string& prefix, const std::string& name) {
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, nullptr);  // before any thread starts: sigwait takes it
  herald::nats_transport transport(options_for(url, prefix));
  devices_topic devices(transport, prefix + ".devices");
  alerts_topic alerts(transport, prefix + ".alerts");
  herald::subscribe_options group;
  group.group = "alerting";
  group.max_in_flight = 1;  // one reading at a time for the whole group: the members take turns
  auto member = devices.subscribe(
      [&](const home::reading& r) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // looking at the reading
        if (r.celsius < 30) return;                                 // the rule: overheating
        fmt::print("  alerting {} (pid {}) handled overheating <- {} {:.1f} C (reading {})\n", name,
                   ::getpid(), r.device, r.celsius, r.n);
        std::fflush(stdout);
        alerts.publish(home::alert_handled{r.n, name});
      },
      group);
  alerts.publish(home::alert_handled{-1, name});  // joined: reading -1
  int signal = 0;
  sigwait(&term, &signal);
  return 0;
}

pid_t spawn(const char* self, const std::string& prefix, const char* name) {
  std::vector<std::string> args{self, "alerting", prefix, name};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, self, nullptr, nullptr, argv.data(), environ) != 0) std::exit(1);
  return pid;
}

}  // namespace

int main(int argc, char** argv) {
  const char* url = std::getenv("HERALD_NATS");
  if (!url || !*url) {
    fmt::print(stderr,
               "smart_home_nats needs a NATS server with JetStream: set HERALD_NATS to its url, "
               "e.g.\n  HERALD_NATS=nats://127.0.0.1:4222 smart_home_nats\n"
               "(scripts/with-nats starts a throwaway one: scripts/with-nats sh -c "
               "'HERALD_NATS=$HERALD_TEST_NATS build/dev/examples/smart_home_nats')\n");
    return 2;
  }
  if (argc == 4 && std::string(argv[1]) == "alerting") return alerting(url, argv[2], argv[3]);

  const std::string prefix = "smart-home-" + std::to_string(::getpid());
  herald::nats_transport transport(options_for(url, prefix));
  devices_topic devices(transport, prefix + ".devices");
  alerts_topic alerts(transport, prefix + ".alerts");

  std::mutex mutex;
  std::condition_variable changed;
  std::map<int, std::vector<std::string>> handled;  // reading -> who handled its alert
  int joined = 0;
  auto report = alerts.subscribe([&](const home::alert_handled& a) {
    std::lock_guard lock(mutex);
    if (a.reading < 0) {
      ++joined;
    } else {
      handled[a.reading].push_back(a.by);
    }
    changed.notify_all();
  });

  fmt::print("smart home on NATS JetStream at {}\n", url);
  const pid_t a = spawn(argv[0], prefix, "A");
  const pid_t b = spawn(argv[0], prefix, "B");
  fmt::print("devices (pid {}) publish 40 readings; the alerting group runs in pids {} and {}\n",
             ::getpid(), a, b);
  std::fflush(stdout);
  {
    std::unique_lock lock(mutex);
    if (!changed.wait_for(lock, std::chrono::seconds(30), [&] { return joined == 2; })) {
      fmt::print(stderr, "the alerting processes did not join within 30 s\n");
      return 1;
    }
  }

  const char* rooms[] = {"thermo-kitchen", "thermo-hall", "thermo-attic", "thermo-garage"};
  int alerts_raised = 0;
  for (int n = 0; n < 40; ++n) {
    const double celsius = n % 5 == 0 ? 30.0 + n / 5 : 19.0 + n % 5;  // every fifth overheats
    if (celsius >= 30) ++alerts_raised;
    devices.publish(home::reading{n, rooms[n % 4], celsius});
  }

  std::unique_lock lock(mutex);
  const bool all = changed.wait_for(lock, std::chrono::seconds(60), [&] {
    return static_cast<int>(handled.size()) == alerts_raised;
  });
  lock.unlock();
  for (pid_t pid : {a, b}) {
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
  lock.lock();
  int twice = 0;
  std::map<std::string, int> by;
  for (const auto& [reading, who] : handled) {
    if (who.size() > 1) ++twice;
    for (const auto& w : who) ++by[w];
  }
  fmt::print("alerts handled: {} of {}, {} (A handled {}, B handled {})\n", handled.size(),
             alerts_raised, all && twice == 0 ? "each exactly once" : "NOT each exactly once",
             by["A"], by["B"]);
  report.reset();
  for (const auto& stream : {prefix + ".devices", prefix + ".alerts"}) {
    js_DeleteStream(transport.native_jetstream(), transport.stream_of(stream).c_str(), nullptr,
                    nullptr);  // this run's streams
  }
  return all && twice == 0 ? 0 : 1;
}
