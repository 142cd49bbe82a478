// SPDX-License-Identifier: MIT
#pragma once

#include <type_traits>  // std::is_invocable_v

#include "herald/detail/always_false.hpp"
#include "herald/message.hpp"

namespace herald::detail {

// Which argument a handler or predicate takes; plain T is preferred because
// it costs nothing to provide. Bus, topics and workers share these.
template <class T, class F>
constexpr bool takes_event = std::is_invocable_v<F&, const T&>;
template <class T, class F>
constexpr bool takes_message = std::is_invocable_v<F&, const message<T>&>;

// Calls f with what it takes from a frame that has `payload` and `get()`.
template <class T, class F, class Frame>
decltype(auto) call_with(F& f, Frame& frame) {
  if constexpr (takes_event<T, F>) {
    return f(*frame.payload);
  } else {
    return f(frame.get());
  }
}

template <class T, class F>
consteval bool check_handler() {
  if constexpr (!takes_event<T, F> && !takes_message<T, F>) {
    static_assert(always_false<F>,
                  "herald: a handler must be callable with `const T&` or "
                  "`const herald::message<T>&` for the event type T it subscribes to");
    return false;
  } else {
    return true;
  }
}

template <class T, class F>
consteval bool check_filter() {
  if constexpr (!takes_event<T, F> && !takes_message<T, F>) {
    static_assert(always_false<F>,
                  "herald: a filter must be callable with `const T&` or "
                  "`const herald::message<T>&` and return something convertible to bool");
    return false;
  } else {
    return true;
  }
}

}  // namespace herald::detail
