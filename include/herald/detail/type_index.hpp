// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>   // indexes are handed out from any thread
#include <cstddef>  // std::size_t
#include <string>   // the overflow message

#include "herald/error.hpp"

namespace herald::detail {

// How many event types a program may dispatch on; indexes past it share the
// last one, which nothing may subscribe to, so lookups need no bounds check.
inline constexpr std::size_t max_type_indexes = std::size_t{1} << 14;
inline constexpr std::size_t overflow_type_index = max_type_indexes - 1;

inline constinit std::atomic<std::size_t> last_type_index{0};

// Zero until T first asks; constant-initialized, so reading it needs no
// guard and is safe even during static initialization.
template <class T>
inline constinit std::atomic<std::size_t> type_index_of{0};

[[gnu::noinline]] inline std::size_t assign_type_index(std::atomic<std::size_t>& slot) noexcept {
  std::size_t mine = last_type_index.fetch_add(1, std::memory_order_relaxed) + 1;
  if (mine > overflow_type_index) mine = overflow_type_index;
  std::size_t expected = 0;
  // Two threads may race to name T: the first wins, the other's number is unused.
  return slot.compare_exchange_strong(expected, mine, std::memory_order_relaxed) ? mine : expected;
}

// A small dense number per event type (from 1), so that dispatch finds a
// type's handlers by indexing an array: no string hashing, no map lookup.
template <class T>
inline std::size_t type_index() noexcept {
  std::size_t index = type_index_of<T>.load(std::memory_order_relaxed);
  return index != 0 ? index : assign_type_index(type_index_of<T>);
}

// T's index if it has one, else 0, which nothing subscribes to: enough for a
// lookup, and a load cheaper than type_index<T>() by a test and a branch.
template <class T>
inline std::size_t known_type_index() noexcept {
  return type_index_of<T>.load(std::memory_order_relaxed);
}

// type_index<T>() for a use that must not share the overflow index: a
// subscription there would apply to other types.
template <class T>
inline std::size_t checked_type_index() {
  const std::size_t index = type_index<T>();
  if (index == overflow_type_index) {
    throw error(errc::invalid_argument,
                "herald dispatches at most " + std::to_string(overflow_type_index - 1) +
                    " event types per program, and this one uses more; merge rarely used "
                    "event types into fewer types with a field that tells them apart");
  }
  return index;
}

}  // namespace herald::detail
