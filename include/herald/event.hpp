// SPDX-License-Identifier: MIT
#pragma once

#include <concepts>     // std::copy_constructible
#include <cstdint>      // std::uint32_t versions
#include <string_view>  // event type names
#include <type_traits>  // std::is_class_v

#include "herald/detail/always_false.hpp"

namespace herald {

/// Names an event type the user cannot change. Specialize it with
/// `static constexpr std::string_view type = "shop.order.placed";` and,
/// optionally, `static constexpr std::uint32_t version = 2;`.
/// Types that declare `static constexpr std::string_view event_type` (and
/// optionally `event_version`) need no specialization.
template <class E>
struct event_traits {};

namespace detail {

template <class E>
concept declares_event_type = requires {
  { E::event_type } -> std::convertible_to<std::string_view>;
};

template <class E>
concept declares_event_version = requires {
  { E::event_version } -> std::convertible_to<std::uint32_t>;
};

template <class E>
concept has_event_traits = requires {
  { event_traits<E>::type } -> std::convertible_to<std::string_view>;
};

template <class E>
concept has_traits_version = requires {
  { event_traits<E>::version } -> std::convertible_to<std::uint32_t>;
};

// An event type is a dotted lowercase name: segments of [a-z0-9_-] that start
// with a letter, separated by single dots, at least two segments (the first
// is a namespace, so names from different teams do not collide).
constexpr bool is_valid_event_type(std::string_view name) noexcept {
  if (name.empty() || name.size() > 256) return false;
  bool segment_start = true;
  int dots = 0;
  for (char c : name) {
    if (c == '.') {
      if (segment_start) return false;
      segment_start = true;
      ++dots;
      continue;
    }
    bool lower = c >= 'a' && c <= 'z';
    bool digit = c >= '0' && c <= '9';
    if (segment_start && !lower) return false;
    if (!lower && !digit && c != '_' && c != '-') return false;
    segment_start = false;
  }
  return !segment_start && dots >= 1;
}

template <class E>
constexpr std::string_view event_type_of() noexcept {
  if constexpr (has_event_traits<E>) {
    return event_traits<E>::type;
  } else if constexpr (declares_event_type<E>) {
    return E::event_type;
  } else {
    return {};
  }
}

template <class E>
constexpr std::uint32_t event_version_of() noexcept {
  if constexpr (has_event_traits<E>) {
    if constexpr (has_traits_version<E>) return event_traits<E>::version;
    return 1;
  } else if constexpr (declares_event_version<E>) {
    return E::event_version;
  } else {
    return 1;
  }
}

}  // namespace detail

/// The CloudEvents `type` of E.
template <class E>
inline constexpr std::string_view event_type_v = detail::event_type_of<E>();

/// The schema version of E (1 unless the type says otherwise).
template <class E>
inline constexpr std::uint32_t event_version_v = detail::event_version_of<E>();

/// A type herald can publish: a copyable class that names itself with a
/// valid dotted lowercase event type, through a static member or event_traits.
template <class E>
concept event =
    std::is_class_v<E> && !std::is_const_v<E> && std::copy_constructible<E> &&
    (detail::has_event_traits<E> ||
     detail::declares_event_type<E>)&&detail::is_valid_event_type(detail::event_type_of<E>()) &&
    (detail::event_version_of<E>() >= 1);

namespace detail {

// Checks one requirement at a time so that misuse reads as one sentence, not a
// wall of unsatisfied constraints. Returns true when E is an event.
template <class E>
consteval bool check_event() {
  if constexpr (!std::is_class_v<E> || std::is_const_v<E>) {
    static_assert(
        always_false<E>,
        "herald: an event must be a (non-const) struct or class; wrap the value in a "
        "struct with `static constexpr std::string_view event_type = \"app.thing.happened\";`");
    return false;
  } else if constexpr (!has_event_traits<E> && !declares_event_type<E>) {
    static_assert(
        always_false<E>,
        "herald: this type is not an event: add `static constexpr std::string_view "
        "event_type = \"app.thing.happened\";` to it, or specialize herald::event_traits");
    return false;
  } else if constexpr (!is_valid_event_type(event_type_of<E>())) {
    static_assert(always_false<E>,
                  "herald: event_type must be a dotted lowercase name such as "
                  "\"shop.order.placed\": segments of a-z, 0-9, '_' or '-' that start with a "
                  "letter, at least two, separated by single dots");
    return false;
  } else if constexpr (event_version_of<E>() < 1) {
    static_assert(always_false<E>, "herald: event_version must be 1 or more");
    return false;
  } else if constexpr (!std::copy_constructible<E>) {
    static_assert(always_false<E>,
                  "herald: an event must be copy constructible: handlers that take "
                  "herald::message<E> and async delivery hold their own copy");
    return false;
  } else {
    return true;
  }
}

}  // namespace detail
}  // namespace herald
