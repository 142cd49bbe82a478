// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>  // now() and advance() may race across threads in tests
#include <chrono>  // durations

#include "herald/clock.hpp"

namespace herald {

/// A clock that moves only when told to, so a 24-hour timeout is tested in
/// microseconds and deterministically. Thread-safe: any thread may read it
/// while another advances it. Not copyable: parts hold it by reference.
class manual_clock {
 public:
  /// Starts at `start` (default: 2026-01-01T00:00:00Z, a fixed point so that
  /// test output does not depend on the day it ran).
  explicit manual_clock(time_point start = time_point{std::chrono::seconds{1767225600}}) noexcept
      : ticks_(start.time_since_epoch().count()) {}

  manual_clock(const manual_clock&) = delete;
  manual_clock& operator=(const manual_clock&) = delete;

  [[nodiscard]] time_point now() const noexcept {
    return time_point{duration{ticks_.load(std::memory_order_acquire)}};
  }

  /// Moves time forward by `by` (never backward: a negative step is ignored,
  /// because no clock herald reads may run backward).
  template <class Rep, class Period>
  void advance(std::chrono::duration<Rep, Period> by) noexcept {
    auto step = std::chrono::duration_cast<duration>(by).count();
    if (step > 0) ticks_.fetch_add(step, std::memory_order_acq_rel);
  }

  /// Sets the time to `to` if that is later than now.
  void advance_to(time_point to) noexcept {
    auto target = to.time_since_epoch().count();
    auto current = ticks_.load(std::memory_order_acquire);
    while (current < target &&
           !ticks_.compare_exchange_weak(current, target, std::memory_order_acq_rel)) {
    }
  }

 private:
  std::atomic<duration::rep> ticks_;
};

static_assert(clock<manual_clock>);

}  // namespace herald
