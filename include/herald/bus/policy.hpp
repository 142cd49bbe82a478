// SPDX-License-Identifier: MIT
#pragma once

#include <concepts>  // std::convertible_to

#include "herald/detail/always_false.hpp"

namespace herald {

/// Bus policy: one thread publishes and subscribes; nothing is synchronized.
struct single_thread_policy {
  static constexpr bool thread_safe = false;
};

/// Bus policy: any thread may publish, subscribe and unsubscribe at once.
/// Publishing takes no lock and no atomic read-modify-write; subscribers are
/// copied on write and old lists are freed once no publish can read them.
struct thread_safe_policy {
  static constexpr bool thread_safe = true;
};

namespace detail {

template <class Policy>
consteval bool check_policy() {
  if constexpr (!requires {
                  { Policy::thread_safe } -> std::convertible_to<bool>;
                }) {
    static_assert(always_false<Policy>,
                  "herald: a bus policy must declare `static constexpr bool thread_safe`; use "
                  "herald::thread_safe_policy or herald::single_thread_policy");
    return false;
  } else {
    return true;
  }
}

}  // namespace detail
}  // namespace herald
