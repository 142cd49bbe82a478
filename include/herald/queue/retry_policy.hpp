// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>  // the cap
#include <chrono>     // durations
#include <cmath>      // the exponential
#include <cstdint>    // attempts
#include <random>     // full jitter

#include "herald/clock.hpp"

namespace herald {

/// When a failed message is tried again: exponential backoff with full
/// jitter (AWS's "full jitter": a uniform wait in [0, min(cap, base·factorⁿ⁻¹)]),
/// which spreads retries of many workers apart.
struct retry_policy {
  duration base = std::chrono::seconds(1);
  double factor = 2.0;
  duration cap = std::chrono::minutes(5);
  std::uint32_t max_attempts = 5;  ///< then the message is dead-lettered
  bool jitter = true;              ///< false: wait exactly the exponential (for tests, schedules)

  /// The longest wait after the `failures`-th failure (1 for the first).
  [[nodiscard]] duration ceiling(std::uint32_t failures) const {
    const double exponent = failures > 0 ? static_cast<double>(failures - 1) : 0.0;
    const double scaled = static_cast<double>(base.count()) * std::pow(factor, exponent);
    const double capped = std::min(scaled, static_cast<double>(cap.count()));
    // A double at or above 2^63 does not convert back (cap = duration::max()
    // is exactly that): saturate rather than wrap to a negative wait.
    if (!(capped < 9.2e18)) return std::min(cap, duration::max());
    if (!(capped > 0)) return duration::zero();  // NaN or a negative base: no wait
    return duration{static_cast<duration::rep>(capped)};
  }

  /// The wait after the `failures`-th failure.
  template <class Random>
  [[nodiscard]] duration backoff(std::uint32_t failures, Random& random) const {
    const duration most = ceiling(failures);
    if (!jitter || most.count() <= 0) return most;
    std::uniform_int_distribution<duration::rep> pick(0, most.count());
    return duration{pick(random)};
  }
};

}  // namespace herald
