// SPDX-License-Identifier: MIT
#pragma once

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>   // backoff
#include <atomic>      // stop
#include <chrono>      // the probe's deadline, backoff
#include <functional>  // how to connect, probe and name channels
#include <map>         // channel → queue
#include <memory>      // the connection
#include <string>      // channels
#include <thread>      // the listening thread
#include <utility>     // std::move

#include "herald/postgres/detail/connection.hpp"
#include "herald/postgres/detail/names.hpp"
#include "herald/runtime/failure.hpp"
#include "herald/runtime/signals.hpp"
#include "herald/store/arrival_signal.hpp"

namespace herald::detail::postgres {

// One connection that LISTENs on the channels of the queues this process's
// workers watch, and turns each notification into arrivals.notify(queue):
// other processes' sends wake idle workers here at once. Started by the
// first watch. It first checks that notifications arrive at all (a
// transaction-mode pooler or a replica drops them): if its probe does not
// come back, it reports once and stops, and workers poll. After a lost
// connection it reconnects with backoff and wakes every watcher, since
// notifications sent meanwhile are gone ("read again").
class listener {
 public:
  struct hooks {
    std::function<std::unique_ptr<connection>()> open;
    std::function<void(const std::string& channel)> notify;  // on another connection
    std::function<std::string(std::string_view queue)> channel_of;
  };

  listener(hooks h, arrival_signal& arrivals, failure_sink* failures, std::string schema,
           std::string who, std::chrono::milliseconds probe_timeout)
      : hooks_(std::move(h)),
        arrivals_(arrivals),
        failures_(failures),
        schema_(std::move(schema)),
        who_(std::move(who)),
        probe_timeout_(probe_timeout) {}
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;
  ~listener() { stop(); }

  // Starts the thread, or tells it to look at the watched queues again.
  void poke() {
    if (!started_.exchange(true)) thread_ = std::thread([this] { run(); });
    wake_.post();
  }

  void stop() noexcept {
    stopping_ = true;
    wake_.post();
    if (thread_.joinable()) thread_.join();
  }

  // False once the probe failed: workers rely on polling alone.
  [[nodiscard]] bool working() const noexcept { return !gave_up_.load(); }

 private:
  void run() noexcept {
    auto backoff = std::chrono::milliseconds(100);
    bool lost_once = false;
    while (!stopping_) {
      try {
        if (!conn_) {
          conn_ = hooks_.open();
          listening_.clear();
          if (!probed_ && !probe()) {
            gave_up_ = true;
            conn_.reset();
            return;
          }
          probed_ = true;
          backoff = std::chrono::milliseconds(100);
          if (lost_once) {
            for (const auto& q : arrivals_.watched()) arrivals_.notify(q);  // read again
          }
        }
        listen_to_watched();
        wait_for_input(1000);
        drain();
      } catch (const std::exception& e) {
        if (!lost_once || conn_) report(e.what());
        lost_once = true;
        conn_.reset();
        wait_for_wake(static_cast<int>(backoff.count()));
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
      }
    }
  }

  // LISTENs, sends a NOTIFY from another connection and waits for it.
  bool probe() {
    const std::string channel = hooks_.channel_of("\x1f herald probe");
    conn_->exec("LISTEN " + quote_identifier(channel), "listening for the probe");
    hooks_.notify(channel);
    const auto deadline = std::chrono::steady_clock::now() + probe_timeout_;
    while (!stopping_ && std::chrono::steady_clock::now() < deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      wait_for_input(static_cast<int>(std::max<long long>(left.count(), 1)));
      if (PQconsumeInput(conn_->get()) != 1) throw_lost();
      bool seen = false;
      while (PGnotify* n = PQnotifies(conn_->get())) {
        seen = seen || channel == n->relname;
        PQfreemem(n);
      }
      if (seen) {
        conn_->exec("UNLISTEN " + quote_identifier(channel), "ending the probe");
        return true;
      }
    }
    if (!stopping_) {
      report("notifications do not arrive (NOTIFY sent, nothing received within " +
             std::to_string(probe_timeout_.count()) +
             " ms): a transaction-mode connection pooler or a read replica in the way? Workers of "
             "this process now notice other processes' sends only at their poll_interval");
    }
    return false;
  }

  void listen_to_watched() {
    for (const auto& q : arrivals_.watched()) {
      const std::string channel = hooks_.channel_of(q);
      if (listening_.count(channel)) continue;
      conn_->exec("LISTEN " + quote_identifier(channel), "listening for sends");
      listening_.emplace(channel, q);
      // What committed before the LISTEN sent its notification to nobody.
      arrivals_.notify(q);
    }
  }

  void drain() {
    if (PQconsumeInput(conn_->get()) != 1) throw_lost();
    while (PGnotify* n = PQnotifies(conn_->get())) {
      auto it = listening_.find(n->relname);
      PQfreemem(n);
      if (it != listening_.end()) arrivals_.notify(it->second);
    }
  }

  [[noreturn]] void throw_lost() const {
    throw store_error(errc::storage_unavailable, who_ + ": the listening connection broke: " +
                                                     std::string(PQerrorMessage(conn_->get())));
  }

  void wait_for_input(int timeout_ms) {
    pollfd fds[2] = {{PQsocket(conn_->get()), POLLIN, 0}, {wake_.read_end(), POLLIN, 0}};
    if (::poll(fds, 2, timeout_ms) > 0 && (fds[1].revents & POLLIN)) wake_.wait();
  }

  void wait_for_wake(int timeout_ms) {
    pollfd fd{wake_.read_end(), POLLIN, 0};
    if (::poll(&fd, 1, timeout_ms) > 0 && (fd.revents & POLLIN)) wake_.wait();
  }

  void report(const std::string& text) const noexcept {
    detail::report_failure(failures_, {failure_kind::store_failed,
                                       "postgres store",
                                       schema_,
                                       errc::storage_unavailable,
                                       {},
                                       0,
                                       text});
  }

  hooks hooks_;
  arrival_signal& arrivals_;
  failure_sink* failures_;
  std::string schema_, who_;
  std::chrono::milliseconds probe_timeout_;
  wakeup_pipe wake_;
  std::atomic<bool> started_{false}, stopping_{false}, gave_up_{false};
  bool probed_ = false;  // the rest: the thread's own
  std::unique_ptr<connection> conn_;
  std::map<std::string, std::string, std::less<>> listening_;  // channel → queue
  std::thread thread_;
};

}  // namespace herald::detail::postgres
