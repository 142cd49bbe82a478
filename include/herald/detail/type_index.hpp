// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>   // indexes are handed out from any thread
#include <cstddef>  // std::size_t

namespace herald::detail {

inline std::size_t next_type_index() noexcept {
  static std::atomic<std::size_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed);
}

// A small dense number per event type, so that dispatch finds a type's
// handlers by indexing an array: no string hashing, no map lookup.
template <class T>
std::size_t type_index() noexcept {
  static const std::size_t index = next_type_index();
  return index;
}

}  // namespace herald::detail
