// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>    // time points and durations
#include <concepts>  // std::same_as
#include <limits>    // the ends of the time line
#include <memory>    // std::addressof

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

/// The clock a part reads: a small, non-owning handle to any herald::clock
/// (system_clock, testing::manual_clock, the user's own), copied into every
/// part's options instead of a std::function. Default: the system clock.
/// The clock it refers to must outlive every part given the handle; it may
/// be read from any thread the parts use, so its now() must be thread-safe.
class clock_ref {
 public:
  constexpr clock_ref() noexcept = default;
  constexpr clock_ref(system_clock) noexcept {}  // NOLINT: the system clock by value is fine

  template <clock C>
  requires(!std::same_as<C, clock_ref> && !std::same_as<C, system_clock>) constexpr clock_ref(
      const C& c) noexcept  // NOLINT: implicit, so options take a clock directly
      : clock_(std::addressof(c)),
        read_([](const void* p) { return static_cast<const C*>(p)->now(); }) {}

  // A temporary clock would be gone before the part reads it.
  template <clock C>
  requires(!std::same_as<C, clock_ref> && !std::same_as<C, system_clock>) clock_ref(const C&& c)
  = delete;

  // Anything else: one sentence instead of a failed conversion.
  template <class C>
  requires(!clock<C>) clock_ref(const C&) {  // NOLINT: implicit, to be refused with a reason
    static_assert(sizeof(C) == 0,
                  "herald: a clock must have `herald::time_point now() const` (herald::"
                  "system_clock, herald::manual_clock or your own); a lambda is not a clock: "
                  "give a struct with now()");
  }

  [[nodiscard]] time_point now() const { return read_ ? read_(clock_) : system_clock{}.now(); }

  /// Whether this is the system clock (no clock was given).
  [[nodiscard]] constexpr bool is_system() const noexcept { return read_ == nullptr; }

 private:
  const void* clock_ = nullptr;
  time_point (*read_)(const void*) = nullptr;
};

static_assert(clock<clock_ref>);

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
