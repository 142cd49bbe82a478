// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>      // sizes
#include <string>       // messages
#include <string_view>  // values

#include "herald/detail/json_text.hpp"
#include "herald/error.hpp"

namespace herald {

/// The longest value of each name and key that stores keep, in bytes: the
/// same on every backend (memory, SQLite, PostgreSQL), so that code tested on
/// one runs on another. PostgreSQL indexes these fields, and a B-tree index
/// row holds about 2.7 KB after compression; each limit (and each index's
/// sum of them) stays well under it. Longer values, values with a NUL byte
/// (PostgreSQL text ends there, so two values would become one) and values
/// that are not UTF-8 are refused with errc::invalid_argument before anything
/// is written. docs/queues.md and docs/outbox.md table them.
namespace field_limits {
inline constexpr std::size_t queue_name = 255;         ///< a queue's name
inline constexpr std::size_t group = 255;              ///< a FIFO group
inline constexpr std::size_t message_id = 1024;        ///< a message's id (an inbox's id too)
inline constexpr std::size_t deduplication_id = 1024;  ///< a queue's deduplication id
inline constexpr std::size_t destination = 255;     ///< where a relay publishes an outbox message
inline constexpr std::size_t outbox_key = 1024;     ///< an outbox message's partition key
inline constexpr std::size_t inbox_consumer = 255;  ///< an inbox's consumer name
}  // namespace field_limits

namespace detail {

// The one check of a name or key that a store is to keep: `field` names it
// in the message ("queue name", "group", ...), `limit` is its field_limits
// entry. Throws errc::invalid_argument; nothing has been written.
inline void check_field(std::string_view field, std::string_view value, std::size_t limit) {
  const auto refuse = [&](const std::string& why) {
    throw error(errc::invalid_argument,
                "herald: the " + std::string(field) + " '" + quote_for_message(value) + "' " + why);
  };
  if (value.size() > limit) {
    refuse("is " + std::to_string(value.size()) + " bytes long; stores keep at most " +
           std::to_string(limit) + " bytes of a " + std::string(field) +
           " (herald::field_limits), the same on every backend: shorten it (or send a hash of it)");
  }
  if (const auto at = value.find('\0'); at != std::string_view::npos) {
    refuse("has a NUL byte at position " + std::to_string(at) +
           "; PostgreSQL text ends at a NUL, so two distinct values would become one: every "
           "store refuses it; remove it");
  }
  std::string scratch;
  if (!append_json_string(scratch, value)) {
    refuse(
        "is not valid UTF-8, which PostgreSQL refuses as text: every store refuses it; send "
        "UTF-8");
  }
}

// A body or other unindexed text a store keeps: only a NUL is refused (it
// would be cut there on PostgreSQL).
inline void check_no_nul(std::string_view field, std::string_view value) {
  if (const auto at = value.find('\0'); at != std::string_view::npos) {
    throw error(errc::invalid_argument,
                "herald: the " + std::string(field) + " has a NUL byte at position " +
                    std::to_string(at) +
                    "; PostgreSQL text ends at a NUL, so it would be cut there: every store "
                    "refuses it; encode the bytes (base64, JSON escapes) first");
  }
}

}  // namespace detail
}  // namespace herald
