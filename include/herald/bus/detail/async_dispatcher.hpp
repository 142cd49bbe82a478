// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>     // counters shared by producers and drainers
#include <cstddef>    // sizes
#include <cstdint>    // counters
#include <exception>  // a failure that escaped a delivery, kept for drain()
#include <mutex>      // guards that failure
#include <string>     // error text
#include <thread>     // std::this_thread::yield while waiting
#include <utility>    // std::exchange

#include "herald/bus/executor.hpp"
#include "herald/bus/options.hpp"
#include "herald/detail/bounded_ring.hpp"
#include "herald/detail/small_task.hpp"
#include "herald/error.hpp"
#include "herald/runtime/failure.hpp"

namespace herald::detail {

// The async side of a bus: a bounded ring of deliveries and up to
// `max_concurrency` drain tasks on the executor that run them. A drain task
// stays on its thread while work keeps coming (spinning briefly when the ring
// runs dry), so a steady stream costs no executor hand-off per message.
class async_dispatcher {
 public:
  async_dispatcher(executor& runner, std::size_t capacity, overflow_policy policy,
                   std::size_t max_concurrency, failure_sink* failures = nullptr)
      : failures_(failures),
        runner_(runner),
        ring_(capacity == 0 ? 1 : capacity),
        policy_(policy),
        max_drainers_(max_concurrency == 0 ? 1 : max_concurrency) {
    runner_.attach();
  }

  async_dispatcher(const async_dispatcher&) = delete;
  async_dispatcher& operator=(const async_dispatcher&) = delete;

  // Delivers what was queued, then waits for the drain tasks to leave.
  ~async_dispatcher() {
    closing_.store(true, std::memory_order_relaxed);
    wait_until_delivered();
    if (failed_.load(std::memory_order_acquire)) {
      // Nobody called drain() to receive it, and a destructor cannot throw it.
      report_failure(failures_, {failure_kind::handler_threw,
                                 "bus",
                                 "",
                                 errc::handler_failed,
                                 {},
                                 0,
                                 "an error handler threw from an async delivery and no drain() "
                                 "received the exception before the bus was destroyed",
                                 std::nullopt});
    }
    // A drain task may still be deciding to leave; it touches nothing of
    // ours after it counts itself out.
    while (tasks_alive_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    runner_.detach();
  }

  // Queued means delivered later; thrown means not queued. So a drain task
  // is posted before the message is pushed, while refusing is still clean.
  void push(small_task task) {
    reserve_drainer();
    for (;;) {
      // Read before trying: a pop between a failed push and the wait must
      // still wake the wait (it would otherwise wait on a ring already empty).
      auto space_seen = space_.load(std::memory_order_seq_cst);
      if (ring_.try_push(task)) break;
      switch (policy_) {
        case overflow_policy::reject:
          throw overflow_error("publish_async: the bus queue is full (" +
                               std::to_string(ring_.capacity()) +
                               " messages) and its overflow policy is reject; drain(), raise "
                               "bus_options::queue_capacity, or choose block or drop_oldest");
        case overflow_policy::drop_oldest: {
          small_task oldest;
          if (ring_.try_pop(oldest)) {
            oldest.reset();
            dropped_.fetch_add(1, std::memory_order_relaxed);
            finish_one();
            signal_space();
            report_failure(failures_,
                           {failure_kind::overflow_dropped,
                            "bus",
                            "",
                            errc::overflow,
                            {},
                            0,
                            "publish_async: the bus queue was full; the oldest queued message "
                            "was dropped (overflow_policy::drop_oldest)",
                            std::nullopt});
          }
          break;
        }
        case overflow_policy::block:
          wait_for_space(space_seen);
          break;
      }
    }
    // A read-modify-write: it also orders the push before the load of
    // active_, against a drain task that is leaving (see drain_loop).
    pending_.fetch_add(1, std::memory_order_seq_cst);
    // The drain task posted above may have found the ring empty and left.
    start_drainer_if_needed();
  }

  // Waits until everything queued before the call has been delivered. Runs
  // the deliveries itself when no drain task can be started (a stopped
  // executor). Then rethrows the first exception an error handler let
  // escape from a delivery since the last drain(): async fail-fast.
  void drain() {
    if (on_drain_thread()) {
      throw error(errc::would_deadlock,
                  "drain() called from a handler that the bus's drain thread is running would "
                  "wait for the very message being handled; call drain() from outside the "
                  "bus's handlers");
    }
    wait_until_delivered();
    if (failed_.load(std::memory_order_acquire)) rethrow_failure();
  }

  [[nodiscard]] std::uint64_t dropped() const noexcept {
    return dropped_.load(std::memory_order_relaxed);
  }

  // True on a thread that is delivering this dispatcher's messages.
  [[nodiscard]] bool on_drain_thread() const noexcept { return current_dispatcher == this; }

 private:
  void wait_until_delivered() {
    for (unsigned spins = 0; pending_.load(std::memory_order_acquire) > 0; ++spins) {
      if (active_.load(std::memory_order_acquire) == 0 && ring_.ready() && try_acquire()) {
        tasks_alive_.fetch_add(1, std::memory_order_relaxed);
        run_drain_task();
        continue;
      }
      if (spins < 64) {
        std::this_thread::yield();
        continue;
      }
      drain_waiters_.fetch_add(1, std::memory_order_seq_cst);
      auto seen = pending_.load(std::memory_order_seq_cst);
      if (seen > 0 && active_.load(std::memory_order_seq_cst) != 0) pending_.wait(seen);
      drain_waiters_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  bool try_acquire() noexcept {
    std::size_t n = active_.load(std::memory_order_seq_cst);
    while (n < max_drainers_) {
      if (active_.compare_exchange_weak(n, n + 1, std::memory_order_seq_cst)) return true;
    }
    return false;
  }

  // Posts a drain task when none is running. Throws, having changed
  // nothing, when the executor refuses it (stopped).
  void reserve_drainer() {
    if (active_.load(std::memory_order_seq_cst) == 0 && try_acquire()) post_drainer();
  }

  // After a push: a drain task that left just before it must be replaced.
  // The message is queued by now, so a refusal here is not the caller's
  // failure: drain() or the destructor delivers it.
  void start_drainer_if_needed() noexcept {
    if (active_.load(std::memory_order_seq_cst) >= max_drainers_ || !try_acquire()) return;
    try {
      post_drainer();
    } catch (...) {
    }
  }

  // With a drain slot acquired; gives it back if the executor refuses.
  void post_drainer() {
    tasks_alive_.fetch_add(1, std::memory_order_relaxed);
    try {
      runner_.post([this] { run_drain_task(); });
    } catch (...) {
      tasks_alive_.fetch_sub(1, std::memory_order_relaxed);
      active_.fetch_sub(1, std::memory_order_seq_cst);
      throw;
    }
  }

  void keep_failure(std::exception_ptr e) noexcept {
    std::lock_guard lock(failure_mutex_);
    if (!failure_) failure_ = std::move(e);
    failed_.store(true, std::memory_order_release);
  }

  [[noreturn]] void rethrow_failure() {
    std::exception_ptr e;
    {
      std::lock_guard lock(failure_mutex_);
      e = std::exchange(failure_, nullptr);
      failed_.store(false, std::memory_order_relaxed);
    }
    std::rethrow_exception(e);
  }

  void run_drain_task() {
    drain_loop();
    // The last touch of *this: after it the destructor may free us.
    tasks_alive_.fetch_sub(1, std::memory_order_release);
  }

  void drain_loop() {
    auto* saved = current_dispatcher;
    current_dispatcher = this;
    for (;;) {
      small_task task;
      while (ring_.try_pop(task)) {
        signal_space();
        try {
          task();  // handler exceptions are caught there; an error handler's are not
        } catch (...) {
          keep_failure(std::current_exception());
        }
        task.reset();
        finish_one();
      }
      // Stay a little while work may still be coming: handing off to a new
      // drain task costs far more than a short spin.
      bool more = false;
      for (int i = 0; i < 2000 && !closing_.load(std::memory_order_relaxed); ++i) {
        if ((more = ring_.ready())) break;
      }
      if (more) continue;
      active_.fetch_sub(1, std::memory_order_seq_cst);
      // A producer may have pushed after the last pop and seen this task
      // still active; one of the two must see the other.
      if (!ring_.ready() || !try_acquire()) break;
    }
    current_dispatcher = saved;
  }

  void finish_one() noexcept {
    pending_.fetch_sub(1, std::memory_order_seq_cst);
    if (drain_waiters_.load(std::memory_order_seq_cst) > 0) pending_.notify_all();
  }

  void signal_space() noexcept {
    if (policy_ != overflow_policy::block) return;
    space_.fetch_add(1, std::memory_order_seq_cst);
    if (space_waiters_.load(std::memory_order_seq_cst) > 0) space_.notify_all();
  }

  void wait_for_space(std::uint32_t seen) {
    if (on_drain_thread()) {
      throw overflow_error(
          "publish_async from a handler on its own bus found the queue full; blocking here "
          "would deadlock, because this thread is the one that empties it. Use "
          "overflow_policy::reject or drop_oldest, a larger queue_capacity, or publish()");
    }
    for (int i = 0; i < 64; ++i) {
      if (space_.load(std::memory_order_acquire) != seen) return;
      std::this_thread::yield();
    }
    space_waiters_.fetch_add(1, std::memory_order_seq_cst);
    if (space_.load(std::memory_order_seq_cst) == seen) space_.wait(seen);
    space_waiters_.fetch_sub(1, std::memory_order_relaxed);
  }

  static inline constinit thread_local const async_dispatcher* current_dispatcher = nullptr;

  failure_sink* failures_;
  executor& runner_;
  bounded_ring<small_task> ring_;
  const overflow_policy policy_;
  const std::size_t max_drainers_;
  std::atomic<std::size_t> active_{0};       // drain tasks entitled to pop
  std::atomic<std::size_t> tasks_alive_{0};  // drain tasks posted and not yet finished
  std::atomic<std::int64_t> pending_{0};     // queued or running
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint32_t> space_{0};
  std::atomic<int> space_waiters_{0};
  std::atomic<int> drain_waiters_{0};
  std::atomic<bool> closing_{false};
  std::atomic<bool> failed_{false};  // failure_ is set; read without the lock by every drain()
  std::mutex failure_mutex_;
  std::exception_ptr failure_;
};

}  // namespace herald::detail
