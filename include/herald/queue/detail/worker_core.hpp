// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>           // free slots
#include <atomic>              // abandoned, read by extend()
#include <chrono>              // steady deadlines
#include <condition_variable>  // the loop, handlers and stop wait on each other
#include <cstddef>             // counts
#include <cstdint>             // attempts
#include <deque>               // handlers waiting for an own thread
#include <exception>           // handler failures
#include <functional>          // the handler
#include <map>                 // leases in flight
#include <memory>              // shared by tasks that may outlive the worker
#include <mutex>               // one lock for the whole core
#include <optional>            // run_once's fixed time
#include <random>              // jitter
#include <stop_token>          // the handlers' stop signal
#include <string>              // reasons
#include <utility>             // std::move
#include <vector>              // batches

#include "herald/bus/executor.hpp"
#include "herald/codec.hpp"
#include "herald/detail/dispatch_frame.hpp"
#include "herald/error.hpp"
#include "herald/message.hpp"
#include "herald/queue/delivery.hpp"
#include "herald/queue/queue.hpp"
#include "herald/queue/worker_options.hpp"
#include "herald/runtime/failure.hpp"
#include "herald/runtime/metrics.hpp"
#include "herald/store/queue_store.hpp"

namespace herald::detail {

// Lets a handler's sends and publishes carry the handled message as their cause.
struct handled_frame : dispatch_frame {
  explicit handled_frame(const attributes& a) noexcept
      : dispatch_frame(&attributes_of_frame), handled(&a) {}
  static const attributes& attributes_of_frame(dispatch_frame& f) {
    return *static_cast<handled_frame&>(f).handled;
  }
  const attributes* handled;
};

// How a handler call ended, before the time and the retry policy decide.
struct handler_outcome {
  enum kind { done, failed, permanent, undecodable, overdue };
  kind what = done;
  std::string text;
  errc code = errc::handler_failed;
};

// Everything a worker's tasks touch, shared with them: a handler abandoned
// at a stop deadline may finish after the worker is gone, and then touches
// nothing but this (never the queue, the store, the clock or the sink).
template <class T, class Store>
struct worker_core : std::enable_shared_from_this<worker_core<T, Store>> {
  using handler_fn = std::function<void(delivery<T>&)>;
  struct slot {
    std::int64_t lease = 0;
    std::string id;
    bool handled = false;  // its settlement waits for the loop
  };

  worker_core(herald::queue<T, Store>& q, std::shared_ptr<handler_fn> h, worker_options o)
      : q_(&q),
        name(q.name()),
        limits(q.limits()),
        handler(std::move(h)),
        options(std::move(o)),
        clock(options.clock ? *options.clock : q.clock()),
        random(options.seed != 0 ? options.seed : std::random_device{}()) {}

  herald::queue<T, Store>* q_;
  const std::string name;
  const decode_limits limits;
  std::shared_ptr<handler_fn> handler;
  worker_options options;
  clock_ref clock;
  std::mt19937_64 random;  // guarded by mutex
  std::stop_source stopping;
  worker_metrics metrics;

  std::mutex mutex;
  std::condition_variable loop_wake;  // settlements, arrivals, stop
  std::condition_variable changed;    // in flight shrank, the loop ended, a task ran
  std::condition_variable task_ready;
  bool wake = false;
  bool own_threads_stop = false;
  bool loop_done = false;
  std::atomic<bool> abandoned{false};
  std::size_t reporting = 0;  // tasks past the abandon check, settling and reporting
  std::size_t drains = 0;     // drain tasks posted to the executor and not yet done
  std::map<std::int64_t, slot> in_flight;
  std::vector<settlement> settled;
  std::deque<leased_message> tasks;  // leased, waiting for a handler slot
  std::string stop_reason, last_error;

  Store& store() const { return q_->store(); }

  void report(failure_kind kind, errc code, const leased_message* m, std::string_view text,
              std::optional<time_point> retry_at = std::nullopt) {
    if (kind == failure_kind::store_failed || kind == failure_kind::lease_lost) {
      std::lock_guard lock(mutex);
      last_error = text;
    }
    report_failure(options.failures, {kind, "worker", name, code, m ? m->id : std::string_view{},
                                      m ? m->attempts : 0, text, retry_at});
  }

  // Decodes and handles one message; touches neither store nor clock.
  handler_outcome call(const leased_message& m) {
    const auto started = std::chrono::steady_clock::now();
    handler_outcome o = call_timed(m);
    metrics.duration.observe(std::chrono::steady_clock::now() - started);
    return o;
  }

  handler_outcome call_timed(const leased_message& m) {
    const std::uint32_t max = options.retry.max_attempts;
    if (max > 0 && m.attempts > max) {
      // Leased more often than allowed, yet never failed: each holder died or
      // outlived its lease. Another try would likely end the same way.
      return {handler_outcome::overdue,
              "leased " + std::to_string(m.attempts - 1) +
                  " times without finishing (the process stopped or the handler outlived its "
                  "visibility timeout)",
              errc::lease_lost};
    }
    message<T> msg;
    try {
      msg = decode<T>(m.body, limits);
    } catch (const error& e) {
      return {handler_outcome::undecodable, std::string("does not decode: ") + e.what(), e.code()};
    } catch (const std::exception& e) {
      return {handler_outcome::undecodable, std::string("does not decode: ") + e.what(),
              errc::decode_failed};
    }
    try {
      handled_frame frame(msg);
      struct lease_ref {
        worker_core* core;
        const leased_message* m;
      } ref{this, &m};
      delivery<T> d(msg, m.attempts, stopping.get_token(), name, &extend_thunk<lease_ref>, &ref);
      (*handler)(d);
    } catch (const permanent_failure& e) {
      return {handler_outcome::permanent, "permanent failure: " + e.reason(),
              errc::permanent_failure};
    } catch (const error& e) {
      return {handler_outcome::failed, e.what(), e.code()};
    } catch (...) {
      return {handler_outcome::failed, what_of(std::current_exception()), errc::handler_failed};
    }
    return {};
  }

  template <class Ref>
  static bool extend_thunk(void* p, duration by) {
    auto& ref = *static_cast<Ref*>(p);
    auto& core = *ref.core;
    std::lock_guard lock(core.mutex);  // stop() abandons under it: no store use after
    if (core.abandoned) return false;
    return core.store().extend(core.name, *ref.m, saturating_add(core.clock.now(), by));
  }

  // Turns an outcome into a settlement at `now`, reporting what failed.
  settlement decide(leased_message m, handler_outcome o, time_point now) {
    m.body.clear();
    m.body.shrink_to_fit();
    const std::uint32_t max = options.retry.max_attempts;
    auto bury = [&](std::string reason, errc code) {
      report(failure_kind::dead_lettered, code, &m, reason);
      metrics.dead_lettered.add();
      return settlement{std::move(m), settlement::dead_letter, now, std::move(reason)};
    };
    switch (o.what) {
      case handler_outcome::done:
        metrics.handled.add();
        return {std::move(m), settlement::ack, now, {}};
      case handler_outcome::overdue:
      case handler_outcome::permanent:
        metrics.failed.add();
        return bury(std::move(o.text), o.code);
      case handler_outcome::undecodable:
        report(failure_kind::decode_failed, o.code, &m, o.text);
        metrics.failed.add();
        return bury(std::move(o.text), o.code);
      case handler_outcome::failed:
        break;
    }
    metrics.failed.add();
    if (max > 0 && m.attempts >= max) {
      return bury("failed " + std::to_string(m.attempts) + " times; last error: " + o.text, o.code);
    }
    time_point retry_at;
    {
      std::lock_guard lock(mutex);
      retry_at = saturating_add(now, options.retry.backoff(m.attempts, random));
    }
    report(failure_kind::retry_scheduled, o.code, &m, o.text, retry_at);
    metrics.retried.add();
    return {std::move(m), settlement::retry, retry_at, std::move(o.text)};
  }

  // Writes settlements, then leases up to `n`: in one transaction where the
  // store prefers it. Throws store_error with nothing written.
  std::vector<leased_message> settle_and_lease(const std::vector<settlement>& batch, std::size_t n,
                                               time_point now) {
    std::vector<char> held(batch.size(), 0);
    std::vector<leased_message> leased;
    if constexpr (store_member::settles_and_leases<Store>) {
      auto r = store().settle_and_lease(name, batch, n, now, options.visibility_timeout);
      held = std::move(r.held);
      leased = std::move(r.leased);
    } else {
      auto work = [&] {
        for (std::size_t i = 0; i < batch.size(); ++i) held[i] = apply(batch[i]) ? 1 : 0;
        if (n > 0) leased = store().lease(name, n, now, options.visibility_timeout);
      };
      if (store_member::batches_settlements<Store> && batch.size() + (n > 0 ? 1 : 0) > 1) {
        auto tx = store().begin();
        work();
        tx.commit();
      } else {
        work();
      }
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!held[i]) lost(batch[i].message);
    }
    metrics.leased(leased.size());
    return leased;
  }

  bool apply(const settlement& s) {
    switch (s.what) {
      case settlement::ack:
        return store().ack(name, s.message);
      case settlement::retry:
        return store().retry(name, s.message, s.at, s.reason);
      case settlement::dead_letter:
        return store().dead_letter(name, s.message, s.reason, s.at);
    }
    return false;
  }

  void lost(const leased_message& m) {
    report(failure_kind::lease_lost, errc::lease_lost, &m,
           "the lease expired before the message was settled; another worker may handle it "
           "again (raise visibility_timeout, or call delivery.extend() in long handlers)");
  }

  // Runs one leased message on a task (an executor's or an own thread).
  void run(leased_message m) {
    {
      std::lock_guard lock(mutex);
      if (abandoned) return forget_locked(m.seq);
    }
    handler_outcome o = call(m);
    {
      std::lock_guard lock(mutex);
      if (abandoned || loop_done) return forget_locked(m.seq);
      ++reporting;
    }
    settlement s = decide(std::move(m), std::move(o), clock.now());
    std::lock_guard lock(mutex);
    --reporting;
    if (auto it = in_flight.find(s.message.seq); it != in_flight.end()) it->second.handled = true;
    settled.push_back(std::move(s));
    // Waking the loop costs more than a no-op handler: wake it for half the
    // slots, or the last handler; else its ~1 ms tick flushes (leasing_loop).
    if (settled.size() >=
            std::max<std::size_t>(1, (options.concurrency + options.prefetch.value_or(0)) / 2) ||
        settled.size() == in_flight.size()) {
      loop_wake.notify_one();
    }
    changed.notify_all();
  }

  void forget_locked(std::int64_t seq) {
    in_flight.erase(seq);
    metrics.in_flight.set(static_cast<double>(in_flight.size()));
    changed.notify_all();
  }
};

}  // namespace herald::detail
