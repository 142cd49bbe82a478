// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>    // time points and durations
#include <concepts>  // std::same_as
#include <limits>    // the ends of the time line

namespace herald {

/// The one time type of herald: wall-clock time, because it is written to
/// envelopes and stores that other processes read.
using time_point = std::chrono::system_clock::time_point;
using duration = std::chrono::system_clock::duration;

/// Anything with `now()` returning herald::time_point. Every time-dependent
/// part reads a clock passed in, so tests can drive time by hand.
template <class C>
concept clock = requires(const C& c) {
  { c.now() } -> std::same_as<time_point>;
};

/// The real clock. Stateless; any thread may call it.
struct system_clock {
  [[nodiscard]] time_point now() const noexcept { return std::chrono::system_clock::now(); }
};

static_assert(clock<system_clock>);

/// `t + d`, clamped to the ends of the time line instead of wrapping: a
/// delay of centuries, or duration::max() ("park forever"), stays in the
/// future rather than overflowing into the past.
[[nodiscard]] constexpr time_point saturating_add(time_point t, duration d) noexcept {
  using rep = duration::rep;
  const rep base = t.time_since_epoch().count();
  const rep step = d.count();
  if (step > 0 && base > std::numeric_limits<rep>::max() - step) return time_point::max();
  if (step < 0 && base < std::numeric_limits<rep>::min() - step) return time_point::min();
  return t + d;
}

}  // namespace herald
