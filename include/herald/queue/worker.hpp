// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>           // free slots
#include <atomic>              // health during a stop
#include <chrono>              // deadlines
#include <condition_variable>  // run_once waits for its tasks
#include <cstddef>             // counts
#include <memory>              // the shared core
#include <mutex>               // start/stop
#include <optional>            // the arrival watch
#include <stop_token>          // the leasing loop
#include <string>              // names
#include <thread>              // the leasing loop, own handler threads
#include <type_traits>         // handler signatures
#include <utility>             // std::move
#include <vector>              // batches, threads

#include "herald/bus/executor.hpp"
#include "herald/detail/handler_traits.hpp"
#include "herald/error.hpp"
#include "herald/queue/delivery.hpp"
#include "herald/queue/detail/leasing_loop.hpp"
#include "herald/queue/detail/worker_core.hpp"
#include "herald/queue/queue.hpp"
#include "herald/queue/worker_options.hpp"
#include "herald/runtime/failure.hpp"
#include "herald/runtime/part.hpp"

namespace herald {

/// Works one queue: one leasing loop leases up to its free slots in a batch
/// and runs the handlers on an executor; acks (and retries, dead letters)
/// are written in batches, with the next lease, in one store transaction
/// where the store prefers it. A long handler's lease is extended by the
/// heartbeat; failures are retried with backoff and dead-lettered after max
/// attempts, at once on herald::permanent_failure, and when a message does
/// not decode as T. Guarantee: at least once; nothing acked comes again;
/// nothing unacked is lost (a crash before a batch commits only redelivers).
///
/// The handler takes `const T&`, `const herald::message<T>&` or
/// `herald::delivery<T>&`, and runs on the executor's threads, several at
/// once up to `concurrency`. start(), stop() and health() may be called from
/// any thread but not from a handler; run_once() is for tests and manual
/// loops, not while started.
template <class T, class Store>
class worker {
  using core = detail::worker_core<T, Store>;

 public:
  template <class Handler>
  worker(queue<T, Store>& q, Handler&& handler, worker_options options = {})
      : queue_(&q), options_(std::move(options)) {
    using H = std::decay_t<Handler>;
    if constexpr (detail::takes_delivery<T, H>) {
      handler_ = std::make_shared<typename core::handler_fn>(std::forward<Handler>(handler));
    } else if constexpr (detail::takes_event<T, H>) {
      handler_ = std::make_shared<typename core::handler_fn>(
          [h = std::forward<Handler>(handler)](delivery<T>& d) mutable { h(d.data()); });
    } else if constexpr (detail::takes_message<T, H>) {
      handler_ = std::make_shared<typename core::handler_fn>(
          [h = std::forward<Handler>(handler)](delivery<T>& d) mutable { h(d.message()); });
    } else {
      static_assert(detail::always_false<Handler>,
                    "herald: a worker's handler must be callable with `const T&` or "
                    "`const herald::message<T>&` or `herald::delivery<T>&` for the queue's "
                    "event type T");
    }
    if (options_.visibility_timeout <= duration::zero()) {
      throw error(errc::invalid_argument, "worker: visibility_timeout must be positive");
    }
    if (options_.concurrency == 0) options_.concurrency = 1;
    if (!options_.prefetch) options_.prefetch = options_.concurrency;
    if (options_.heartbeat <= duration::zero()) {
      options_.heartbeat = options_.visibility_timeout / 3;
    }
    core_ = make_core();
  }

  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;
  /// Stops as stop() does, with its default deadline.
  ~worker() {
    stop();
    if (collector_) options_.metrics->remove_collector(*collector_);
  }

  /// Gives the worker a host's executor, failure sink and metrics where it
  /// was given none of its own. Before start().
  void use(const part_context& context) {
    std::lock_guard lock(control_);
    if (!options_.handler_executor) options_.handler_executor = context.runs_on;
    if (!options_.failures) options_.failures = context.failures;
    if (!options_.metrics) options_.metrics = context.metrics;
    if (!running_) core_ = make_core();
  }

  /// Leases what is due at `now` (up to `concurrency` messages), handles
  /// them (on the executor when the worker has one, else one by one on this
  /// thread), settles them in one batch, and returns how many it handled,
  /// failed ones included. Store errors propagate as herald::store_error.
  std::size_t run_once(time_point now) {
    auto& c = *core_;
    auto leased = c.settle_and_lease({}, options_.concurrency, now);
    std::vector<std::optional<detail::handler_outcome>> outcomes(leased.size());
    if (options_.handler_executor && leased.size() > 1) {
      std::mutex m;
      std::condition_variable done;
      std::size_t left = leased.size();
      for (std::size_t i = 0; i < leased.size(); ++i) {
        options_.handler_executor->post([&, i] {
          auto o = c.call(leased[i]);
          std::lock_guard lock(m);
          outcomes[i] = std::move(o);
          if (--left == 0) done.notify_one();
        });
      }
      std::unique_lock lock(m);
      done.wait(lock, [&] { return left == 0; });
    } else {
      for (std::size_t i = 0; i < leased.size(); ++i) outcomes[i] = c.call(leased[i]);
    }
    std::vector<settlement> batch;
    batch.reserve(leased.size());
    for (std::size_t i = 0; i < leased.size(); ++i) {
      batch.push_back(c.decide(std::move(leased[i]), std::move(*outcomes[i]), now));
    }
    c.settle_and_lease(batch, 0, now);
    return batch.size();
  }

  /// Starts the leasing loop (and, without an executor, `concurrency`
  /// handler threads). Sends of this process wake it at once.
  void start() {
    std::lock_guard lock(control_);
    if (running_) return;
    if (core_->abandoned || core_->loop_done) core_ = make_core();
    auto c = core_;
    if (auto* e = c->options.handler_executor) {
      e->attach();
    } else {
      for (std::size_t i = 0; i < options_.concurrency; ++i) {
        own_.emplace_back([c] { own_thread(*c); });
      }
    }
    if constexpr (detail::store_member::arrivals<Store>) {
      watch_ = queue_->store().arrivals().watch(queue_->name(), [raw = c.get()] {
        std::lock_guard state(raw->mutex);
        raw->wake = true;
        raw->loop_wake.notify_one();
      });
    }
    loop_ = std::jthread([c](std::stop_token stop) { detail::leasing_loop(*c, stop); });
    running_ = true;
  }

  /// Stops leasing, fires the handlers' stop tokens, and waits up to
  /// `deadline` for the handlers in flight to finish and be settled. Returns
  /// by the deadline plus a grace: the store call the loop is making, and the
  /// settling of handlers that had just finished. Handlers still running then
  /// are reported (failure_kind::stop_deadline, by message id) and abandoned:
  /// their leases expire and another worker takes the messages; they touch
  /// nothing of the worker's queue, store, clock or sink when they end, so
  /// the worker may be destroyed (executor threads or the worker's own,
  /// detached, finish them).
  stop_report stop(duration deadline = std::chrono::seconds(30)) {
    std::lock_guard lock(control_);
    stop_report result{queue_->name(), true, {}};
    if (!running_) return result;
    stopping_ = true;
    struct stopped {
      std::atomic<bool>& flag;
      ~stopped() { flag = false; }
    } done{stopping_};
    running_ = false;
    auto c = core_;
    std::shared_ptr<void> abandoned;  // the store's calls, past the deadline
    c->stopping.request_stop();
    loop_.request_stop();
    if (watch_) queue_->store().arrivals().unwatch(*std::exchange(watch_, std::nullopt));
    {
      std::unique_lock state(c->mutex);
      c->loop_wake.notify_all();
      const auto until = std::chrono::steady_clock::now() + deadline;
      result.in_time =
          c->changed.wait_until(state, until, [&] { return c->loop_done && c->in_flight.empty(); });
      if (!result.in_time) {
        c->abandoned = true;
        for (const auto& [seq, s] : c->in_flight) {
          if (!s.handled) result.abandoned.push_back(s.id);
        }
        c->loop_wake.notify_all();
        // The loop and the settling handlers may wait for a server that does
        // not answer: their calls fail now, so that the joins below end.
        abandoned = detail::abandon_calls(queue_->store());
        c->changed.wait(state, [&] { return c->reporting == 0; });
      }
      c->own_threads_stop = true;
      c->task_ready.notify_all();
    }
    for (const auto& id : result.abandoned) {
      detail::report_failure(
          c->options.failures,
          {failure_kind::stop_deadline, "worker", c->name, errc::stopped, id, 0,
           "the handler was still running at the stop deadline; its lease is left to expire "
           "and the message will be handled again",
           std::nullopt});
    }
    loop_ = {};  // joins: the loop ends after its current store call
    for (auto& t : own_) {
      if (result.in_time) {
        t.join();
      } else {
        t.detach();  // each holds the core until its handler returns
      }
    }
    own_.clear();
    if (auto* e = c->options.handler_executor) e->detach();
    return result;
  }

  /// Running, stopped (with the reason if it stopped by itself) or failing
  /// (the last store error or lost lease).
  [[nodiscard]] part_health health() const {
    // A stop holds control_ until its deadline: health answers meanwhile.
    std::unique_lock lock(control_, std::defer_lock);
    while (!lock.try_lock()) {
      if (stopping_) return {"worker " + queue_->name(), part_state::stopped, "stopping", {}};
      std::this_thread::yield();  // start() or use(): brief
    }
    std::lock_guard state(core_->mutex);
    part_health h{"worker " + queue_->name(), part_state::stopped, core_->stop_reason,
                  core_->last_error};
    if (running_ && !core_->loop_done) {
      h.state = core_->last_error.empty() ? part_state::running : part_state::failing;
    }
    return h;
  }

  /// Why the worker stopped by itself (a store error no retry can fix); empty otherwise.
  [[nodiscard]] std::string stop_reason() const {
    std::lock_guard state(core_->mutex);
    return core_->stop_reason;
  }

 private:
  std::shared_ptr<core> make_core() {
    auto c = std::make_shared<core>(*queue_, handler_, options_);
    c->metrics = detail::worker_metrics(options_.metrics, queue_->name());
    if (options_.metrics && !collector_) collector_ = add_collector();
    return c;
  }

  // The store's view of the queue, read when the metrics are rendered.
  std::uint64_t add_collector() {
    metric_labels l{{"queue", queue_->name()}};
    auto* r = options_.metrics;
    auto depth = r->gauge("herald_queue_depth", "Messages ready to be leased now.", l);
    auto leased = r->gauge("herald_queue_in_flight", "Messages leased and not yet settled.", l);
    auto delayed =
        r->gauge("herald_queue_delayed", "Messages waiting for a delay or retry backoff.", l);
    auto dead = r->gauge("herald_queue_dead_letters", "Messages in the dead-letter queue.", l);
    auto lag = r->gauge("herald_queue_lag_seconds",
                        "How long the longest-waiting ready message has waited.", l);
    return r->add_collector([=, q = queue_] {
      const auto s = q->stats();
      depth.set(static_cast<double>(s.depth));
      leased.set(static_cast<double>(s.in_flight));
      delayed.set(static_cast<double>(s.delayed));
      dead.set(static_cast<double>(s.dead_lettered));
      lag.set(std::chrono::duration<double>(s.lag).count());
    });
  }

  static void own_thread(core& c) {
    for (;;) {
      leased_message m;
      {
        std::unique_lock state(c.mutex);
        c.task_ready.wait(state, [&] { return !c.tasks.empty() || c.own_threads_stop; });
        if (c.tasks.empty()) return;
        m = std::move(c.tasks.front());
        c.tasks.pop_front();
      }
      c.run(std::move(m));
    }
  }

  queue<T, Store>* queue_;
  worker_options options_;
  std::shared_ptr<typename core::handler_fn> handler_;
  std::shared_ptr<core> core_;
  mutable std::mutex control_;
  bool running_ = false;
  std::atomic<bool> stopping_{false};  // a stop holds control_
  std::optional<arrival_signal::token> watch_;
  std::optional<std::uint64_t> collector_;
  std::jthread loop_;
  std::vector<std::thread> own_;
};

}  // namespace herald
