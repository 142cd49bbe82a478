// SPDX-License-Identifier: MIT
#pragma once

#include <fmt/core.h>  // default reports

#include <chrono>              // timeouts, heartbeats
#include <condition_variable>  // idle waits that a stop wakes
#include <cstddef>             // counts
#include <cstdint>             // attempts, seeds
#include <cstdio>              // stderr, for the default reports
#include <exception>           // handler failures
#include <functional>          // the handler, callbacks, the clock
#include <map>                 // leases in flight, for the heartbeat
#include <mutex>               // shared state of the worker threads
#include <optional>            // the clock, unless the queue's
#include <random>              // jitter
#include <stdexcept>           // permanent_failure
#include <stop_token>          // start()/stop()
#include <string>              // reasons
#include <thread>              // std::jthread
#include <type_traits>         // handler signatures
#include <utility>             // std::move
#include <vector>              // threads, leases

#include "herald/codec.hpp"
#include "herald/detail/dispatch_frame.hpp"
#include "herald/detail/handler_traits.hpp"
#include "herald/error.hpp"
#include "herald/event.hpp"
#include "herald/message.hpp"
#include "herald/queue/queue.hpp"
#include "herald/queue/retry_policy.hpp"
#include "herald/store/queue_store.hpp"

namespace herald {

/// Thrown by a handler for a message that no retry can help (a missing
/// customer, a malformed order): the message goes to the dead-letter queue at once.
class permanent_failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One failed attempt, as the worker reports it.
struct worker_failure {
  const leased_message& message;
  std::string error;
  std::uint32_t attempt = 0;   ///< 1 for the first
  bool dead_lettered = false;  ///< false: retried at retry_at
  time_point retry_at;
};

struct worker_options {
  std::size_t concurrency = 1;  ///< handlers running at once under start()
  duration visibility_timeout = std::chrono::seconds(30);
  duration heartbeat{};  ///< how often leases in flight are extended; 0: a third of the timeout
  retry_policy retry;
  duration poll_interval = std::chrono::milliseconds(100);  ///< the wait when the queue is empty
  /// Each failed attempt, retried or dead-lettered (default: nothing).
  std::function<void(const worker_failure&)> on_failure;
  /// Store errors and lost leases (default: a line on stderr).
  std::function<void(const std::exception&)> on_error;
  /// Reads the time under start(); unset: the queue's clock.
  std::optional<clock_ref> clock;
  std::uint64_t seed = 0;  ///< jitter's random seed; 0: a random one
};

namespace detail {

// Lets a handler's sends and publishes carry the handled message as their cause.
struct handled_frame : dispatch_frame {
  explicit handled_frame(const attributes& a) noexcept
      : dispatch_frame(&attributes_of_frame), handled(&a) {}
  static const attributes& attributes_of_frame(dispatch_frame& f) {
    return *static_cast<handled_frame&>(f).handled;
  }
  const attributes* handled;
};

}  // namespace detail

/// Works one queue: leases messages with a visibility timeout, runs the
/// handler, acks on success, extends the lease of a long handler, retries
/// failures with backoff and dead-letters a message after max attempts, at
/// once on herald::permanent_failure, and when it does not decode as T.
/// Guarantee: at least once; nothing acked comes again; nothing unacked is lost.
template <class T, class Store>
class worker {
 public:
  template <class Handler>
  worker(queue<T, Store>& q, Handler&& handler, worker_options options = {})
      : queue_(&q), options_(std::move(options)), random_(seed(options_.seed)) {
    if constexpr (detail::takes_event<T, std::decay_t<Handler>>) {
      handler_ = [h = std::forward<Handler>(handler)](const message<T>& m) mutable { h(m.data); };
    } else if constexpr (detail::takes_message<T, std::decay_t<Handler>>) {
      handler_ = std::forward<Handler>(handler);
    } else {
      static_assert(detail::always_false<Handler>,
                    "herald: a worker's handler must be callable with `const T&` or "
                    "`const herald::message<T>&` for the queue's event type T");
    }
    if (options_.concurrency == 0) options_.concurrency = 1;
    if (options_.heartbeat <= duration::zero())
      options_.heartbeat = options_.visibility_timeout / 3;
    if (options_.visibility_timeout <= duration::zero()) {
      throw error(errc::invalid_argument, "worker: visibility_timeout must be positive");
    }
  }

  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;
  ~worker() { stop(); }

  /// Leases what is due at `now` (up to `concurrency` messages) and handles
  /// each on this thread; returns how many it handled, failed ones included.
  /// Store errors propagate as herald::store_error.
  std::size_t run_once(time_point now) {
    auto leased = queue_->store().lease(queue_->name(), options_.concurrency, now,
                                        options_.visibility_timeout);
    for (auto& m : leased) handle(m, [now] { return now; });
    return leased.size();
  }

  /// Starts `concurrency` threads that work the queue until stop().
  void start() {
    std::lock_guard lock(control_);
    if (!threads_.empty()) return;
    abandoned_ = false;
    stop_reason_.clear();
    for (std::size_t i = 0; i < options_.concurrency; ++i) {
      threads_.emplace_back([this](std::stop_token stop) { work(stop); });
    }
    threads_.emplace_back([this](std::stop_token stop) { beat(stop); });
  }

  /// Stops leasing, lets handlers in flight finish and joins the threads.
  /// Handlers still running after `deadline` lose their heartbeat (their
  /// leases expire and another worker takes the messages); stop() still
  /// waits for them, because they use this worker.
  void stop(duration deadline = std::chrono::seconds(30)) {
    std::lock_guard lock(control_);
    if (threads_.empty()) return;
    for (std::size_t i = 0; i + 1 < threads_.size(); ++i) threads_[i].request_stop();
    wake_.notify_all();
    {
      std::unique_lock state(state_);
      if (!idle_.wait_for(state, deadline, [&] { return in_flight_.empty(); })) {
        abandoned_ = true;
        report(error(errc::stopped, "worker of '" + queue_->name() +
                                        "': " + std::to_string(in_flight_.size()) +
                                        " handlers still running at the stop deadline; their "
                                        "leases are no longer extended"));
      }
    }
    for (auto& t : threads_) t.request_stop();
    wake_.notify_all();
    threads_.clear();  // joins
  }

  /// Why the worker stopped by itself (a store error no retry can fix); empty otherwise.
  [[nodiscard]] std::string stop_reason() const {
    std::lock_guard lock(state_);
    return stop_reason_;
  }

 private:
  static std::uint64_t seed(std::uint64_t given) {
    return given != 0 ? given : std::random_device{}();
  }

  time_point clock_now() const { return options_.clock ? options_.clock->now() : queue_->now(); }

  void work(std::stop_token stop) {
    duration idle = options_.poll_interval;
    while (!stop.stop_requested()) {
      std::vector<leased_message> leased;
      try {
        leased = queue_->store().lease(queue_->name(), 1, clock_now(), options_.visibility_timeout);
        idle = options_.poll_interval;
      } catch (const store_error& e) {
        report(e);
        if (!e.transient()) {
          give_up(e.what());
          return;
        }
        idle = std::min(idle * 2, duration(std::chrono::seconds(5)));
      } catch (...) {
        report_current();  // e.g. a clock that threw: back off, keep the thread alive
        idle = std::min(idle * 2, duration(std::chrono::seconds(5)));
      }
      if (leased.empty()) {
        std::unique_lock state(state_);
        wake_.wait_for(state, stop, idle, [] { return false; });
        continue;
      }
      for (auto& m : leased) {
        track(m);
        try {
          handle(m, [this] { return clock_now(); });
        } catch (...) {
          report_current();  // not settled: it comes again when its lease expires
        }
        untrack(m);
      }
    }
  }

  // Extends the leases of messages in flight until stop.
  void beat(std::stop_token stop) {
    std::unique_lock state(state_);
    while (!stop.stop_requested()) {
      wake_.wait_for(state, stop, options_.heartbeat, [] { return false; });
      if (stop.stop_requested() || abandoned_) break;
      auto leases = in_flight_;
      state.unlock();
      for (const auto& [seq, m] : leases) {
        try {
          const time_point until = saturating_add(clock_now(), options_.visibility_timeout);
          // A message settled since the copy was taken is no longer tracked:
          // its lease ended on purpose, which is not a loss.
          if (!queue_->store().extend(queue_->name(), m, until) && still_running(m)) {
            report(error(errc::invalid_argument,
                         "worker of '" + queue_->name() + "': the lease of message " + m.id +
                             " was lost before its handler finished; it may be handled again"));
          }
        } catch (...) {
          report_current();
        }
      }
      state.lock();
    }
  }

  void track(const leased_message& m) {
    std::lock_guard state(state_);
    in_flight_.emplace(m.seq, m);
  }

  void untrack(const leased_message& m) {
    std::lock_guard state(state_);
    in_flight_.erase(m.seq);
    if (in_flight_.empty()) idle_.notify_all();
  }

  // Called before a message is settled, so that the heartbeat, seeing it
  // gone, never reports the end of its lease as a loss.
  void settling(const leased_message& m) {
    std::lock_guard state(state_);
    in_flight_.erase(m.seq);
  }

  bool still_running(const leased_message& m) const {
    std::lock_guard state(state_);
    auto it = in_flight_.find(m.seq);
    return it != in_flight_.end() && it->second.lease == m.lease;
  }

  void give_up(const std::string& why) {
    std::lock_guard state(state_);
    stop_reason_ = why;
  }

  template <class Now>
  void handle(const leased_message& m, Now&& now) {
    auto& store = queue_->store();
    const auto& name = queue_->name();
    const std::uint32_t max = options_.retry.max_attempts;
    if (max > 0 && m.attempts > max) {
      // Leased more often than allowed, yet never failed: each holder died or
      // outlived its lease. Another try would likely end the same way.
      bury(m,
           "leased " + std::to_string(m.attempts - 1) + " times without finishing (the " +
               "process stopped or the handler outlived its visibility timeout)",
           now());
      return;
    }
    message<T> msg;
    try {
      msg = decode<T>(m.body, queue_->limits());
    } catch (const std::exception& e) {
      bury(m, std::string("does not decode: ") + e.what(), now());
      return;
    }
    try {
      detail::handled_frame frame(msg);
      handler_(msg);
    } catch (const permanent_failure& e) {
      bury(m, std::string("permanent failure: ") + e.what(), now());
      return;
    } catch (...) {
      const std::string what = detail::what_of(std::current_exception());
      const time_point at = now();
      if (max > 0 && m.attempts >= max) {
        bury(m, "failed " + std::to_string(m.attempts) + " times; last error: " + what, at);
      } else {
        time_point retry_at;
        {
          std::lock_guard state(state_);
          retry_at = saturating_add(at, options_.retry.backoff(m.attempts, random_));
        }
        notify_failure({m, what, m.attempts, false, retry_at});
        settling(m);
        if (!store.retry(name, m, retry_at, what)) lost(m);
      }
      return;
    }
    settling(m);
    if (!store.ack(name, m)) lost(m);
  }

  void bury(const leased_message& m, const std::string& reason, time_point at) {
    notify_failure({m, reason, m.attempts, true, at});
    settling(m);
    if (!queue_->store().dead_letter(queue_->name(), m, reason, at)) lost(m);
  }

  // The user's callbacks run on threads herald owns: what they throw is
  // reported here and goes no further, so it cannot terminate the process.
  void notify_failure(const worker_failure& failure) const noexcept {
    if (!options_.on_failure) return;
    try {
      options_.on_failure(failure);
    } catch (...) {
      callback_threw("on_failure", std::current_exception());
    }
  }

  static void callback_threw(const char* which, std::exception_ptr e) noexcept {
    try {
      fmt::print(stderr, "herald: worker_options::{} threw, and was ignored: {}\n", which,
                 detail::what_of(e));
    } catch (...) {
    }
  }

  void lost(const leased_message& m) {
    report(error(errc::invalid_argument,
                 "worker of '" + queue_->name() + "': the lease of message " + m.id +
                     " expired before it was settled; another worker may handle it again "
                     "(raise visibility_timeout if handlers take this long)"));
  }

  // In a catch block: reports what was caught, whatever its type.
  void report_current() const noexcept {
    try {
      throw;
    } catch (const std::exception& e) {
      report(e);
    } catch (...) {
      report(std::runtime_error(detail::what_of(std::current_exception())));
    }
  }

  void report(const std::exception& e) const noexcept {
    try {
      if (options_.on_error) {
        options_.on_error(e);
      } else {
        fmt::print(stderr, "{}\n", e.what());
      }
    } catch (...) {
      callback_threw("on_error", std::current_exception());
    }
  }

  queue<T, Store>* queue_;
  worker_options options_;
  std::function<void(const message<T>&)> handler_;
  std::mt19937_64 random_;
  std::mutex control_;  // start/stop
  mutable std::mutex state_;
  std::condition_variable_any wake_;
  std::condition_variable_any idle_;
  std::map<std::int64_t, leased_message> in_flight_;
  bool abandoned_ = false;  // past the stop deadline: leases are left to expire
  std::string stop_reason_;
  std::vector<std::jthread> threads_;
};

}  // namespace herald
