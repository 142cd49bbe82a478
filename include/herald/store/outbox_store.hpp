// SPDX-License-Identifier: MIT
#pragma once

#include <concepts>     // the storage concepts
#include <cstddef>      // counts
#include <cstdint>      // sequence numbers, partitions, lease tokens
#include <optional>     // release one or all
#include <span>         // batches
#include <string>       // ids, bodies, reasons
#include <string_view>  // names
#include <vector>       // results

#include "herald/clock.hpp"
#include "herald/detail/always_false.hpp"
#include "herald/error.hpp"
#include "herald/store/field_limits.hpp"

namespace herald {

/// A message as outbox::stage hands it to storage, inside the caller's transaction.
struct outbox_draft {
  std::string id;           ///< the envelope's id
  std::string destination;  ///< the subject, topic or queue the relay publishes it to
  std::string key;          ///< its partition key: order is kept per key; empty: none
  std::uint32_t partition = 0;
  std::string body;  ///< the encoded envelope
  time_point staged_at;
};

/// A staged message that has not been sent yet, as a relay reads it.
struct outbox_record {
  std::int64_t seq = 0;  ///< commit order per key (see docs/outbox.md)
  std::string id;
  std::string destination;
  std::string key;
  std::uint32_t partition = 0;
  std::string body;
  std::uint32_t attempts = 0;  ///< failed publishes so far
  time_point staged_at;
};

/// A message the relay gave up on after too many failed publishes: it blocks
/// only its own key until it is released.
struct parked_record : outbox_record {
  std::string reason;  ///< the last failure
  time_point parked_at;
};

/// A partition a relay holds: only the holder of `token` publishes its messages.
struct partition_lease {
  std::uint32_t partition = 0;
  std::int64_t token = 0;
  time_point until;
};

/// An outbox at one moment.
struct outbox_stats {
  std::size_t backlog = 0;  ///< committed, not sent, not parked
  std::size_t parked = 0;
  duration oldest_age{};  ///< of the oldest message in the backlog; 0 if none
};

/// The tables of the outbox on a store `S`: each backend specializes this
/// (herald/store/memory_outbox.hpp, herald/sqlite/sqlite_outbox.hpp).
/// Times come from the caller.
template <class S>
class outbox_storage;

/// The tables of the inbox on a store `S`; each backend specializes it.
template <class S>
class inbox_storage;

namespace detail::outbox_member {

template <class A>
concept stage = requires(A& a, typename A::transaction& tx, std::span<const outbox_draft> d) {
  a.stage(tx, d);
};
template <class A>
concept claim = requires(A& a, std::string_view owner, std::uint32_t partitions, time_point now,
                         duration ttl) {
  { a.claim(owner, partitions, now, ttl) } -> std::same_as<std::vector<partition_lease>>;
};
template <class A>
concept pending = requires(A& a, std::span<const partition_lease> held, std::size_t n,
                           time_point now) {
  { a.pending(held, n, now) } -> std::same_as<std::vector<outbox_record>>;
};
template <class A>
concept settle = requires(A& a, std::span<const std::int64_t> seqs, time_point now, bool keep,
                          const outbox_record& r, std::string_view why, std::uint32_t park_after) {
  { a.mark_sent(seqs, now, keep) } -> std::same_as<std::size_t>;
  { a.failed(r, why, now, now, park_after) } -> std::same_as<bool>;
  { a.defer(seqs, now) } -> std::same_as<std::size_t>;
};
template <class A>
concept operate = requires(A& a, std::string_view owner, std::size_t n,
                           std::optional<std::int64_t> which, time_point t, std::uint32_t p) {
  a.agree_partitions(p);
  a.leave(owner);
  { a.parked(n) } -> std::same_as<std::vector<parked_record>>;
  { a.release(which) } -> std::same_as<std::size_t>;
  { a.prune_sent(t, n) } -> std::same_as<std::size_t>;
  { a.stats(t) } -> std::same_as<outbox_stats>;
};

}  // namespace detail::outbox_member

/// What an outbox needs of its storage:
/// - stage(tx, drafts): writes them in the caller's transaction; they exist
///   for relays once, and only if, it commits. It refuses (errc::invalid_argument,
///   nothing written) a draft that detail::check_stage refuses. Per key, the order of commits
///   is the order of `seq`.
/// - claim(owner, partitions, now, ttl): the partitions `owner` holds after
///   renewing what it had and taking free ones up to its fair share (the
///   partition count divided among the relays seen within `ttl`), giving
///   back what is over it. Two owners never hold one partition at one time.
/// - pending(held, max, now): unsent, unparked messages of those partitions
///   in seq order, for holders whose lease is still valid at `now`.
/// - mark_sent(seqs, now, keep): deletes them, or keeps them marked (for a
///   retention window) when `keep`; failed(record, why, now, retry_at,
///   park_after): counts a failed publish; the message (and its key behind
///   it) waits until retry_at, or is parked at park_after failures (returns
///   whether it was); defer(seqs, until): they (and their keys behind them)
///   wait until `until` (never less than they already wait) without counting
///   an attempt, so a destination that is down does not keep the next rounds'
///   batches from other destinations; leave(owner) gives its partitions back.
/// - parked(limit), release(seq or all), prune_sent(before, limit), stats(now).
/// - agree_partitions(n): records n as the outbox's partition count if the
///   store has none yet; throws errc::invalid_argument (detail::
///   partitions_disagree) if it has another: keys would hash to partitions
///   other processes never claim.
template <class A>
concept outbox_storage_for = detail::outbox_member::stage<A> && detail::outbox_member::claim<A> &&
    detail::outbox_member::pending<A> && detail::outbox_member::settle<A> &&
    detail::outbox_member::operate<A>;

/// What an inbox needs of its storage: claim(tx, consumer, id, now) inserts
/// (consumer, id) in the caller's transaction and returns false if it was
/// there (a unique insert: a second claimant waits for the first to end);
/// it refuses (errc::invalid_argument) what detail::check_claim refuses;
/// prune(before, limit) forgets ids claimed before `before`, a few at a time.
template <class A>
concept inbox_storage_for = requires(A& a, typename A::transaction& tx, std::string_view consumer,
                                     std::string_view id, time_point now, std::size_t n) {
  { a.claim(tx, consumer, id, now) } -> std::same_as<bool>;
  { a.prune(now, n) } -> std::same_as<std::size_t>;
  { a.count(consumer) } -> std::same_as<std::size_t>;
};

namespace detail {

// One sentence when a store has no outbox or inbox tables in scope.
template <class S, class Storage>
consteval bool check_storage(const char* what) {
  if constexpr (!requires { sizeof(Storage); }) {
    static_assert(always_false<S>,
                  "herald: no outbox/inbox tables for this store are in scope: include the "
                  "header of its backend (herald/store/memory_outbox.hpp or "
                  "herald/sqlite/sqlite_outbox.hpp)");
    return false;
  } else {
    return what != nullptr;
  }
}

// What every outbox storage checks before it stages: names and keys within
// herald::field_limits, UTF-8 without NUL, no NUL in a body; all of the
// batch before any of it is written.
inline void check_stage(std::span<const outbox_draft> drafts) {
  for (const auto& d : drafts) {
    check_field("message id", d.id, field_limits::message_id);
    check_field("outbox destination", d.destination, field_limits::destination);
    check_field("outbox key", d.key, field_limits::outbox_key);
    check_no_nul("message body", d.body);
  }
}

// What every inbox storage checks before it claims an id.
inline void check_claim(std::string_view consumer, std::string_view id) {
  check_field("inbox consumer", consumer, field_limits::inbox_consumer);
  check_field("inbox message id", id, field_limits::message_id);
}

// The refusal of an outbox whose partition count is not the one the store
// recorded: processes that disagree stall each other's keys silently.
[[noreturn]] inline void partitions_disagree(std::uint32_t recorded, std::uint32_t mine,
                                             const std::string& where) {
  throw error(errc::invalid_argument,
              "outbox: outbox_options::partitions is " + std::to_string(mine) + ", but " + where +
                  " was set up with " + std::to_string(recorded) +
                  " partitions by another process; every process staging into and relaying "
                  "from one store must use the same count: use " +
                  std::to_string(recorded) +
                  " (changing it needs every process stopped and "
                  "the outbox drained; see docs/outbox.md)");
}

// A stable 64-bit hash (FNV-1a): every process and compiler spreads keys
// over partitions alike.
constexpr std::uint64_t stable_hash(std::string_view s) noexcept {
  std::uint64_t h = 14695981039346656037ull;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace detail
}  // namespace herald
