// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>       // the deduplication window
#include <concepts>     // refusing foreign transactions
#include <cstddef>      // limits
#include <cstdint>      // sequence numbers
#include <exception>    // a dead letter that does not decode
#include <optional>     // redrive one or all
#include <span>         // batches
#include <string>       // names, ids
#include <type_traits>  // refusing foreign transactions
#include <utility>      // std::move
#include <vector>       // batches

#include "herald/attributes.hpp"
#include "herald/clock.hpp"
#include "herald/codec.hpp"
#include "herald/detail/dispatch_frame.hpp"
#include "herald/error.hpp"
#include "herald/event.hpp"
#include "herald/message.hpp"
#include "herald/runtime/metrics.hpp"
#include "herald/store/queue_store.hpp"

namespace herald {

/// How one message is sent.
struct send_options {
  duration delay{};              ///< not delivered before now + delay
  std::string deduplication_id;  ///< a second send with this id inside the window stores nothing
  std::string group;             ///< messages of one group are handled one at a time, in send order
  herald::attributes attributes;  ///< subject, extensions, correlation…; blanks are filled
};

/// What a send did.
struct send_result {
  std::string id;          ///< the message id (a duplicate's: the original's)
  bool duplicate = false;  ///< nothing was stored: the deduplication id was seen inside the window
};

struct queue_options {
  /// The CloudEvents source of messages sent here.
  std::string source = "/herald/queue";
  /// How long a deduplication id is remembered.
  duration deduplication_window = std::chrono::minutes(5);
  /// Stamps send times and delays, and is the clock of the queue's workers.
  clock_ref clock{};
  /// What a message may be: send() refuses (errc::limit_exceeded) what the
  /// queue's workers, which decode with these same limits, would refuse.
  /// Processes sharing a store should agree on them.
  decode_limits limits{};
  /// Counts sent and deduplicated messages, labelled by queue (the worker
  /// counts the rest). A send inside a transaction that later rolls back is
  /// counted too. Null: nothing is counted.
  metrics_registry* metrics = nullptr;
};

/// A dead-lettered message of a queue of T: the raw body and the reason,
/// and the message as T on demand.
template <class T>
struct dead_letter_entry : dead_lettered_message {
  decode_limits limits{};

  /// The message as T; throws herald::decode_error (or what T's from_json
  /// throws) if it does not decode, which may be why it was dead-lettered.
  [[nodiscard]] message<T> decode() const { return herald::decode<T>(body, limits); }

  /// The message as T, or nothing with the reason in `*why` (if given).
  [[nodiscard]] std::optional<message<T>> try_decode(std::string* why = nullptr) const {
    try {
      return decode();
    } catch (const std::exception& e) {
      if (why) *why = e.what();
      return std::nullopt;
    }
  }
};

namespace detail {

// The event first, then its JSON, then the store: one sentence for the first
// requirement that fails.
template <class T, class Store>
consteval bool check_queue() {
  if constexpr (!check_event<T>()) {
    return false;
  } else if constexpr (!serializable_event<T>) {
    static_assert(always_false<T>,
                  "herald: a queue's event type needs a JSON form: give it to_json and "
                  "from_json (or NLOHMANN_DEFINE_TYPE_INTRUSIVE)");
    return false;
  } else {
    return check_queue_store<Store>();
  }
}

}  // namespace detail

/// A named queue of T in a store: point-to-point work that a herald::worker
/// takes, with delays, deduplication and FIFO groups. Messages are stored as
/// CloudEvents, so any process that knows T can work them.
template <class T, class Store>
class queue {
  // The check fails with its own sentence; this assert only instantiates it.
  static_assert(detail::check_queue<T, Store>() || true);

 public:
  using event_type = T;
  using store_type = Store;

  queue(Store& store, std::string name, queue_options options = {})
      : store_(&store), name_(std::move(name)), options_(std::move(options)) {
    if (name_.empty()) throw error(errc::invalid_argument, "a queue needs a name");
    detail::check_field("queue name", name_, field_limits::queue_name);
    if (auto* r = options_.metrics) {
      metric_labels l{{"queue", name_}};
      sent_ = r->counter("herald_queue_sent_total", "Messages the store accepted.", l);
      deduplicated_ = r->counter("herald_queue_deduplicated_total",
                                 "Sends stored nothing: their deduplication id was seen.", l);
    }
  }

  /// Stores the event durably (its own transaction) and returns.
  send_result send(const T& event, const send_options& options = {}) {
    auto tx = store_->begin();
    auto result = send(tx, event, options);
    tx.commit();
    return result;
  }

  /// Sends inside the caller's transaction: the message exists if and only
  /// if the transaction commits.
  send_result send(typename Store::transaction& tx, const T& event,
                   const send_options& options = {}) {
    const time_point at = now();
    queue_message_draft draft = make_draft(event, options, at);
    auto results =
        store_->enqueue(tx, name_, std::span(&draft, 1), at, options_.deduplication_window);
    (results.front().duplicate ? deduplicated_ : sent_).add();
    return {std::move(results.front().id), results.front().duplicate};
  }

  // A transaction of another kind of store cannot hold this queue's messages.
  template <class Transaction>
  requires(!std::same_as<std::remove_cv_t<Transaction>, typename Store::transaction>) send_result
      send(Transaction&, const T&, const send_options& = {}) {
    static_assert(detail::always_false<Transaction>,
                  "herald: queue::send was given a transaction of another kind of store; begin() "
                  "it on the store this queue uses (queue.store().begin())");
    return {};
  }

  /// Sends many events in one transaction, each with `options` (which must
  /// not carry a deduplication id: it would make all but the first duplicates).
  std::vector<send_result> send_batch(std::span<const T> events, const send_options& options = {}) {
    if (!options.deduplication_id.empty()) {
      throw error(errc::invalid_argument,
                  "send_batch: a deduplication id applies to one message; send those one by one");
    }
    const time_point at = now();
    std::vector<queue_message_draft> drafts;
    drafts.reserve(events.size());
    for (const auto& event : events) drafts.push_back(make_draft(event, options, at));
    auto tx = store_->begin();
    auto stored = store_->enqueue(tx, name_, drafts, at, options_.deduplication_window);
    tx.commit();
    sent_.add(static_cast<double>(stored.size()));  // no deduplication ids: none is a duplicate
    std::vector<send_result> results;
    results.reserve(stored.size());
    for (auto& r : stored) results.push_back({std::move(r.id), r.duplicate});
    return results;
  }

  /// The dead-letter queue, oldest first, with the reason of each; each
  /// decodes to T on demand.
  [[nodiscard]] std::vector<dead_letter_entry<T>> dead_letters(std::size_t limit = 1000) {
    auto raw = store_->dead_letters(name_, limit);
    std::vector<dead_letter_entry<T>> out;
    out.reserve(raw.size());
    for (auto& r : raw) out.push_back({std::move(r), options_.limits});
    return out;
  }

  /// Moves one dead-lettered message (by its seq) back to the end of the
  /// queue with its attempts reset; false if there is no such message.
  bool redrive(std::int64_t seq) { return store_->redrive(name_, seq, now()) == 1; }

  /// Moves every dead-lettered message back; returns how many.
  std::size_t redrive_all() { return store_->redrive(name_, std::nullopt, now()); }

  /// Deletes every dead-lettered message; returns how many.
  std::size_t purge_dead_letters() { return store_->purge_dead_letters(name_); }

  [[nodiscard]] queue_stats stats() { return store_->stats(name_, now()); }

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const decode_limits& limits() const noexcept { return options_.limits; }
  [[nodiscard]] clock_ref clock() const noexcept { return options_.clock; }
  [[nodiscard]] Store& store() const noexcept { return *store_; }
  [[nodiscard]] time_point now() const { return options_.clock.now(); }

 private:
  queue_message_draft make_draft(const T& event, const send_options& options, time_point at) const {
    message<T> m(event);
    static_cast<attributes&>(m) = options.attributes;
    if (!m.time) m.time = at;
    // Sent from a handler: correlation and causation come from the handled message.
    detail::fill_blank_attributes(m, event_type_v<T>, options_.source, options_.clock,
                                  detail::current_frame);
    return {m.id, encode(m, options_.limits), options.group, options.deduplication_id,
            saturating_add(at, options.delay)};
  }

  Store* store_;
  std::string name_;
  queue_options options_;
  metric_ref sent_, deduplicated_;
};

}  // namespace herald
