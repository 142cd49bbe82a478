// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>       // retention
#include <cstddef>      // counts
#include <string>       // the consumer's name
#include <string_view>  // message ids
#include <type_traits>  // handler forms
#include <utility>      // std::forward

#include "herald/clock.hpp"
#include "herald/error.hpp"
#include "herald/message.hpp"
#include "herald/runtime/metrics.hpp"
#include "herald/store/outbox_store.hpp"

namespace herald {

struct inbox_options {
  /// Whose handled ids these are: consumers sharing a store keep apart ones.
  std::string consumer = "default";
  /// How long an id is remembered: longer than any redelivery may come late,
  /// a manual redrive days later included.
  duration retention = std::chrono::hours(24 * 14);
  /// prune() forgets at most this many ids per call, so it never holds the
  /// store for long.
  std::size_t prune_batch = 500;
  clock_ref clock{};
  metrics_registry* metrics = nullptr;  ///< counts handled and skipped duplicates
};

/// Exactly-once effects on at-least-once delivery: handle() claims the
/// message's id with a unique insert in the consumer's own transaction and
/// runs the handler in it, so the effect and the claim commit together; a
/// second delivery of the id is skipped and counted. Two instances holding
/// one duplicate at once: the second waits for the first's transaction and
/// skips (or runs, if the first rolled back). Include the backend's header.
template <class Store>
class inbox {
  static_assert(detail::check_storage<Store, inbox_storage<Store>>("inbox"));

 public:
  using storage_type = inbox_storage<Store>;
  using transaction = typename Store::transaction;

  explicit inbox(Store& store, inbox_options options = {})
      : store_(&store), storage_(store), options_(std::move(options)) {
    detail::check_field("inbox consumer", options_.consumer, field_limits::inbox_consumer);
    if (options_.metrics) {
      const metric_labels l{{"consumer", options_.consumer}};
      handled_ = options_.metrics->counter("herald_inbox_handled_total",
                                           "Messages an inbox let through to the handler.", l);
      skipped_ = options_.metrics->counter("herald_inbox_duplicates_total",
                                           "Duplicate deliveries an inbox skipped.", l);
    }
  }

  /// In the caller's transaction `tx`: claims `message_id` and calls
  /// `fn(tx)`; returns false, without calling it, if the id was handled.
  /// The caller commits. If fn throws, nothing is claimed once tx rolls back.
  template <class Fn>
  bool handle(transaction& tx, std::string_view message_id, Fn&& fn) {
    if (message_id.empty()) {
      throw error(errc::invalid_argument,
                  "inbox: a message without an id cannot be deduplicated; give it one");
    }
    if (!storage_.claim(tx, options_.consumer, message_id, options_.clock.now())) {
      skipped_.add();
      return false;
    }
    std::forward<Fn>(fn)(tx);
    handled_.add();
    return true;
  }

  /// Begins a transaction, handles `m` in it with `fn(tx, m)` and commits;
  /// returns false if `m` was a duplicate. What fn throws rolls back both.
  template <class T, class Fn>
  bool handle(const message<T>& m, Fn&& fn) {
    auto tx = store_->begin();
    const bool ran = handle(tx, m.id, [&](transaction& t) { std::forward<Fn>(fn)(t, m); });
    tx.commit();
    return ran;
  }

  /// A handler for a queue worker or a topic subscription of T, taking
  /// `const herald::message<T>&`: each message is handled through this inbox
  /// by `fn(transaction&, const message<T>&)`, which writes its effects in the
  /// transaction. A duplicate returns without calling fn; what fn throws goes
  /// to the worker's or topic's retry and dead-letter path.
  template <class T, class Fn>
  [[nodiscard]] auto handler(Fn fn) {
    static_assert(std::is_invocable_v<Fn&, transaction&, const message<T>&>,
                  "herald: inbox::handler<T>(fn) needs fn(transaction&, const message<T>&), "
                  "which writes the message's effects in that transaction");
    return [this, fn = std::move(fn)](const message<T>& m) mutable { handle(m, fn); };
  }

  /// Forgets ids older than the retention window, at most prune_batch of
  /// them; returns how many. Call it now and then (a host part, a timer).
  std::size_t prune() {
    return storage_.prune(options_.clock.now() - options_.retention, options_.prune_batch);
  }

  /// Ids this consumer remembers.
  [[nodiscard]] std::size_t remembered() { return storage_.count(options_.consumer); }

  [[nodiscard]] Store& store() noexcept { return *store_; }
  [[nodiscard]] const inbox_options& options() const noexcept { return options_; }

 private:
  Store* store_;
  storage_type storage_;
  inbox_options options_;
  metric_ref handled_, skipped_;
};

}  // namespace herald
