// SPDX-License-Identifier: MIT
#pragma once

#include <concepts>     // the queue_store concept
#include <cstddef>      // counts
#include <cstdint>      // sequence numbers, lease tokens
#include <optional>     // redrive one or all
#include <span>         // batches of messages
#include <string>       // bodies, ids, reasons
#include <string_view>  // queue names
#include <vector>       // batches

#include "herald/clock.hpp"
#include "herald/detail/always_false.hpp"

namespace herald {

/// A store opts into the queue_store concept with
/// `using queue_store_concept = herald::queue_store_tag;`.
struct queue_store_tag {};

/// One message as queue<T>::send hands it to a store.
struct queue_message_draft {
  std::string id;                ///< the envelope's id
  std::string body;              ///< the encoded envelope
  std::string group;             ///< empty: no group
  std::string deduplication_id;  ///< empty: never a duplicate
  time_point available_at;       ///< not leased before this
};

/// What a store did with one draft.
struct enqueue_result {
  std::string id;          ///< the stored message's id; a duplicate's is the original's
  bool duplicate = false;  ///< the deduplication id was seen inside the window: nothing stored
};

/// A message leased to one worker until `lease_until`. Only the holder of
/// `lease` (a token that changes with every lease) may ack, extend, retry or
/// dead-letter it; once the lease expires another worker may take it.
struct leased_message {
  std::int64_t seq = 0;  ///< order of sending within the store
  std::string id;
  std::string body;
  std::string group;
  std::uint32_t attempts = 0;  ///< leases so far, this one included
  time_point enqueued_at;
  time_point first_attempt_at;
  time_point lease_until;
  std::int64_t lease = 0;
};

/// A message in a queue's dead-letter queue.
struct dead_lettered_message {
  std::int64_t seq = 0;
  std::string id;
  std::string body;
  std::string group;
  std::string reason;  ///< the last error, or why it was dead-lettered at once
  std::uint32_t attempts = 0;
  time_point enqueued_at;
  time_point first_attempt_at;
  time_point last_attempt_at;
  time_point dead_lettered_at;
};

/// A queue at one moment.
struct queue_stats {
  std::size_t depth = 0;          ///< ready to lease now
  std::size_t in_flight = 0;      ///< leased, lease not expired
  std::size_t delayed = 0;        ///< waiting for a delay or a retry backoff
  std::size_t dead_lettered = 0;  ///< in the dead-letter queue
  duration oldest_age{};          ///< age of the oldest message not dead-lettered; 0 if none
};

/// Durable point-to-point messages, with leases. All times come from the
/// caller, so that tests drive them with a manual clock and every process
/// of a shared store agrees on one rule: a lease is valid while now < lease_until.
///
/// `S::transaction` is a unit of work on the store that the caller may
/// extend with its own writes (the SQLite store gives its connection), made
/// by `begin()` and made durable by `commit()`; destroying it uncommitted
/// rolls it back. enqueue() runs inside one; the other operations are each
/// their own.
template <class S>
concept queue_store = std::same_as<typename S::queue_store_concept, queue_store_tag> &&
    requires(S& s, typename S::transaction& tx, std::string_view queue,
             std::span<const queue_message_draft> drafts, const leased_message& lease,
             time_point now, duration d, std::size_t n, std::string_view text,
             std::optional<std::int64_t> which) {
  { s.begin() } -> std::same_as<typename S::transaction>;
  tx.commit();
  { s.enqueue(tx, queue, drafts, now, d) } -> std::same_as<std::vector<enqueue_result>>;
  { s.lease(queue, n, now, d) } -> std::same_as<std::vector<leased_message>>;
  { s.ack(queue, lease) } -> std::same_as<bool>;
  { s.extend(queue, lease, now) } -> std::same_as<bool>;
  { s.retry(queue, lease, now, text) } -> std::same_as<bool>;
  { s.dead_letter(queue, lease, text, now) } -> std::same_as<bool>;
  { s.dead_letters(queue, n) } -> std::same_as<std::vector<dead_lettered_message>>;
  { s.redrive(queue, which, now) } -> std::same_as<std::size_t>;
  { s.purge_dead_letters(queue) } -> std::same_as<std::size_t>;
  { s.stats(queue, now) } -> std::same_as<queue_stats>;
};

namespace detail {

// One sentence for the first member a would-be queue store lacks.
template <class S>
consteval bool check_queue_store() {
  if constexpr (!requires { typename S::queue_store_concept; }) {
    static_assert(always_false<S>,
                  "herald: a queue store must opt in with `using queue_store_concept = "
                  "herald::queue_store_tag;`");
    return false;
  } else if constexpr (!requires { typename S::transaction; }) {
    static_assert(always_false<S>,
                  "herald: a queue store needs a nested `transaction` type with commit()");
    return false;
  } else if constexpr (!queue_store<S>) {
    static_assert(always_false<S>,
                  "herald: this type does not satisfy herald::queue_store: it needs begin, "
                  "enqueue, lease, ack, extend, retry, dead_letter, dead_letters, redrive, "
                  "purge_dead_letters and stats with the signatures in "
                  "herald/store/queue_store.hpp");
    return false;
  } else {
    return true;
  }
}

}  // namespace detail
}  // namespace herald
