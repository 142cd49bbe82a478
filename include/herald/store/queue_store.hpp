// SPDX-License-Identifier: MIT
#pragma once

#include <concepts>     // the queue_store concept
#include <cstddef>      // counts
#include <cstdint>      // sequence numbers, lease tokens
#include <cstdio>       // the last words of a misuse that cannot throw
#include <exception>    // std::terminate
#include <optional>     // redrive one or all
#include <span>         // batches of messages
#include <string>       // bodies, ids, reasons
#include <string_view>  // queue names
#include <thread>       // a transaction belongs to its thread
#include <vector>       // batches

#include "herald/clock.hpp"
#include "herald/detail/always_false.hpp"
#include "herald/error.hpp"
#include "herald/store/arrival_signal.hpp"
#include "herald/store/field_limits.hpp"

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

/// What becomes of one leased message: a worker settles them in batches.
struct settlement {
  enum kind { ack, retry, dead_letter };
  leased_message message;  ///< its seq and lease token name it (the body may be dropped)
  kind what = ack;
  time_point at;  ///< retry: when it is due again; dead letter: when
  std::string reason;
};

/// What a store's settle_and_lease did.
struct settle_result {
  std::vector<char> held;  ///< held[i]: batch[i] still held its lease, and was settled
  std::vector<leased_message> leased;
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
  /// How long the longest-waiting message ready now has been ready (since it
  /// was sent, or its delay or retry backoff ended); 0 if none. Delayed and
  /// backing-off messages do not count: depth is not lag.
  duration lag{};
};

namespace detail::store_member {

// One concept per member, so that a type missing one is told which.
template <class S>
concept begin = requires(S& s) {
  { s.begin() } -> std::same_as<typename S::transaction>;
};
template <class S>
concept commit = requires(typename S::transaction& tx) {
  tx.commit();
};
template <class S>
concept enqueue = requires(S& s, typename S::transaction& tx, std::string_view queue,
                           std::span<const queue_message_draft> drafts, time_point now,
                           duration window) {
  { s.enqueue(tx, queue, drafts, now, window) } -> std::same_as<std::vector<enqueue_result>>;
};
template <class S>
concept lease = requires(S& s, std::string_view queue, std::size_t n, time_point now, duration d) {
  { s.lease(queue, n, now, d) } -> std::same_as<std::vector<leased_message>>;
};
template <class S>
concept ack = requires(S& s, std::string_view queue, const leased_message& m) {
  { s.ack(queue, m) } -> std::same_as<bool>;
};
template <class S>
concept extend = requires(S& s, std::string_view queue, const leased_message& m, time_point t) {
  { s.extend(queue, m, t) } -> std::same_as<bool>;
};
template <class S>
concept retry = requires(S& s, std::string_view queue, const leased_message& m, time_point t,
                         std::string_view text) {
  { s.retry(queue, m, t, text) } -> std::same_as<bool>;
};
template <class S>
concept dead_letter = requires(S& s, std::string_view queue, const leased_message& m,
                               std::string_view text, time_point now) {
  { s.dead_letter(queue, m, text, now) } -> std::same_as<bool>;
};
template <class S>
concept dead_letters = requires(S& s, std::string_view queue, std::size_t n) {
  { s.dead_letters(queue, n) } -> std::same_as<std::vector<dead_lettered_message>>;
};
template <class S>
concept redrive = requires(S& s, std::string_view queue, std::optional<std::int64_t> which,
                           time_point now) {
  { s.redrive(queue, which, now) } -> std::same_as<std::size_t>;
};
template <class S>
concept purge_dead_letters = requires(S& s, std::string_view queue) {
  { s.purge_dead_letters(queue) } -> std::same_as<std::size_t>;
};
template <class S>
concept stats = requires(S& s, std::string_view queue, time_point now) {
  { s.stats(queue, now) } -> std::same_as<queue_stats>;
};

// Optional: a store that wakes this process's workers when a message arrives.
template <class S>
concept arrivals = requires(S& s) {
  { s.arrivals() } -> std::same_as<arrival_signal&>;
};

// Optional: a store whose settlements (acks, retries, dead letters) and next
// lease are cheaper together in one of its transactions.
template <class S>
concept batches_settlements = requires {
  requires S::batch_settlements;
};

// Optional: a store that settles a batch and leases the next in one
// transaction by itself (PostgreSQL: one round trip).
template <class S>
concept settles_and_leases = requires(S& s, std::string_view queue,
                                      std::span<const settlement> batch, std::size_t n,
                                      time_point now, duration visibility) {
  { s.settle_and_lease(queue, batch, n, now, visibility) } -> std::same_as<settle_result>;
};

}  // namespace detail::store_member

/// Durable point-to-point messages, with leases. All times come from the
/// caller, so that tests drive them with a manual clock and every process
/// of a shared store agrees on one rule: a lease is valid while now < lease_until.
///
/// `S::transaction` is a unit of work on the store that the caller may
/// extend with its own writes (the SQLite store gives its connection), made
/// by `begin()` and made durable by `commit()`; destroying it uncommitted
/// rolls it back. enqueue() runs inside one; the other operations are each
/// their own. The rules every store keeps (the conformance suite tests them):
/// - enqueue() refuses (errc::invalid_argument, nothing written) a queue
///   name, message id, group or deduplication id longer than its
///   herald::field_limits entry, with a NUL byte or not UTF-8, and a body
///   with a NUL byte: detail::check_send.
/// - A transaction is bound to the store that began it: enqueue() with one
///   from another store throws herald::error (errc::foreign_transaction) and
///   stores nothing; with one that has ended, errc::invalid_argument.
/// - It belongs to the thread that began it: used from another thread
///   (enqueue, commit, a storage's stage or claim) it throws herald::error
///   (errc::invalid_argument) and changes nothing (detail::check_transaction).
///   Any call that thread makes on
///   the store while it is open joins it (its changes commit or roll back
///   with it), and begin() there opens a nested transaction that can roll
///   back alone; ending an outer one ends those inside it. Calls from other
///   threads never see it before it commits: they wait until it ends (the
///   memory and SQLite stores) or read what is committed beside it on their
///   own connections (PostgreSQL). No call deadlocks its own thread.
///
/// Optional members: `herald::arrival_signal& arrivals()` (sends wake idle
/// workers at once); `static constexpr bool batch_settlements = true` (a
/// worker settles many messages and leases the next in one transaction of
/// the store, by calling ack, retry, dead_letter and lease inside it); and
/// `herald::settle_result settle_and_lease(std::string_view queue,
/// std::span<const herald::settlement>, std::size_t max, time_point now,
/// duration visibility)`, which does all of that itself, atomically: it
/// writes nothing and throws herald::store_error if any of it fails.
template <class S>
concept queue_store = std::same_as<typename S::queue_store_concept, queue_store_tag> &&
    detail::store_member::begin<S> && detail::store_member::commit<S> &&
    detail::store_member::enqueue<S> && detail::store_member::lease<S> &&
    detail::store_member::ack<S> && detail::store_member::extend<S> &&
    detail::store_member::retry<S> && detail::store_member::dead_letter<S> &&
    detail::store_member::dead_letters<S> && detail::store_member::redrive<S> &&
    detail::store_member::purge_dead_letters<S> && detail::store_member::stats<S>;

namespace detail {

// A store's operation given a transaction `owner` made (null: one that ended).
inline void check_own_transaction(const void* owner, const void* self, std::string_view store) {
  if (owner == self) return;
  if (owner == nullptr) {
    throw error(errc::invalid_argument,
                std::string(store) +
                    ": the transaction has already ended (committed, rolled back or moved "
                    "from); begin() a new one");
  }
  throw error(errc::foreign_transaction,
              std::string(store) +
                  ": the transaction was begun on another store; begin() it on the store this "
                  "queue uses, or the message would not commit or roll back with it");
}

// A transaction used on a thread other than the one that began it: its
// store finds what belongs to it by that thread (calls there join it), so
// from here it would race with that thread or write outside it.
inline void check_thread(std::thread::id owner, std::string_view store) {
  if (owner == std::this_thread::get_id()) return;
  throw error(errc::invalid_argument,
              std::string(store) +
                  ": the transaction is used from a thread other than the one that began it; a "
                  "transaction belongs to its thread (that thread's calls on the store join "
                  "it): use it and end it there, or begin() one on this thread");
}

// A store's operation given the transaction `tx`: begun on this store, not
// ended, and used on its own thread.
template <class Transaction>
void check_transaction(const Transaction& tx, const void* self, std::string_view store) {
  check_own_transaction(tx.store(), self, store);
  check_thread(tx.thread(), store);
}

// A transaction that holds its store's lock destroyed on another thread:
// only the thread that began it may release the lock, and a destructor
// cannot throw, so the process ends with a sentence instead of deadlocking
// every other thread of the store.
[[noreturn]] inline void destroyed_on_another_thread(std::string_view store) noexcept {
  std::fprintf(stderr,
               "herald: %.*s: a transaction was destroyed on a thread other than the one that "
               "began it; it holds the store's lock, which only that thread can release: end "
               "a transaction on the thread that began it\n",
               static_cast<int>(store.size()), store.data());
  std::terminate();
}

// What every store checks before it writes a send: names and keys within
// herald::field_limits, UTF-8 without NUL, and no NUL in a body. All of the
// batch is checked before any of it is written.
inline void check_send(std::string_view queue, std::span<const queue_message_draft> drafts) {
  check_field("queue name", queue, field_limits::queue_name);
  for (const auto& d : drafts) {
    check_field("message id", d.id, field_limits::message_id);
    check_field("group", d.group, field_limits::group);
    check_field("deduplication id", d.deduplication_id, field_limits::deduplication_id);
    check_no_nul("message body", d.body);
  }
}

// One sentence for the first member a would-be queue store lacks, naming it
// with the signature it needs.
template <class S>
consteval bool check_queue_store() {
  namespace m = store_member;
  if constexpr (!requires { typename S::queue_store_concept; }) {
    static_assert(always_false<S>,
                  "herald: a queue store must opt in with `using queue_store_concept = "
                  "herald::queue_store_tag;`");
    return false;
  } else if constexpr (!requires { typename S::transaction; }) {
    static_assert(always_false<S>,
                  "herald: a queue store needs a nested `transaction` type with commit()");
    return false;
  } else if constexpr (!m::begin<S>) {
    static_assert(always_false<S>, "herald: this queue store lacks `transaction begin()`");
    return false;
  } else if constexpr (!m::commit<S>) {
    static_assert(always_false<S>, "herald: this queue store's transaction lacks `commit()`");
    return false;
  } else if constexpr (!m::enqueue<S>) {
    static_assert(always_false<S>,
                  "herald: this queue store lacks `std::vector<herald::enqueue_result> "
                  "enqueue(transaction&, std::string_view queue, "
                  "std::span<const herald::queue_message_draft>, time_point now, duration "
                  "deduplication_window)`");
    return false;
  } else if constexpr (!m::lease<S>) {
    static_assert(always_false<S>,
                  "herald: this queue store lacks `std::vector<herald::leased_message> "
                  "lease(std::string_view queue, std::size_t max, time_point now, duration "
                  "visibility)`");
    return false;
  } else if constexpr (!m::ack<S>) {
    static_assert(always_false<S>,
                  "herald: this queue store lacks `bool ack(std::string_view queue, const "
                  "herald::leased_message&)`");
    return false;
  } else if constexpr (!m::extend<S>) {
    static_assert(always_false<S>,
                  "herald: this queue store lacks `bool extend(std::string_view queue, const "
                  "herald::leased_message&, time_point until)`");
    return false;
  } else if constexpr (!m::retry<S>) {
    static_assert(always_false<S>,
                  "herald: this queue store lacks `bool retry(std::string_view queue, const "
                  "herald::leased_message&, time_point available_at, std::string_view error)`");
    return false;
  } else if constexpr (!m::dead_letter<S>) {
    static_assert(always_false<S>,
                  "herald: this queue store lacks `bool dead_letter(std::string_view queue, "
                  "const herald::leased_message&, std::string_view reason, time_point now)`");
    return false;
  } else if constexpr (!m::dead_letters<S>) {
    static_assert(always_false<S>,
                  "herald: this queue store lacks `std::vector<herald::dead_lettered_message> "
                  "dead_letters(std::string_view queue, std::size_t limit)`");
    return false;
  } else if constexpr (!m::redrive<S>) {
    static_assert(always_false<S>,
                  "herald: this queue store lacks `std::size_t redrive(std::string_view queue, "
                  "std::optional<std::int64_t> which, time_point now)`");
    return false;
  } else if constexpr (!m::purge_dead_letters<S>) {
    static_assert(always_false<S>,
                  "herald: this queue store lacks `std::size_t "
                  "purge_dead_letters(std::string_view queue)`");
    return false;
  } else if constexpr (!m::stats<S>) {
    static_assert(always_false<S>,
                  "herald: this queue store lacks `herald::queue_stats stats(std::string_view "
                  "queue, time_point now)`");
    return false;
  } else {
    return true;
  }
}

}  // namespace detail
}  // namespace herald
