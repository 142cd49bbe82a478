// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>      // sizes
#include <cstdint>      // partitions
#include <optional>     // release one or all
#include <span>         // one draft
#include <string>       // ids, destinations
#include <string_view>  // names
#include <type_traits>  // transaction checks
#include <utility>      // std::move
#include <vector>       // parked messages

#include "herald/clock.hpp"
#include "herald/codec.hpp"
#include "herald/detail/always_false.hpp"
#include "herald/detail/dispatch_frame.hpp"
#include "herald/detail/typed_frame.hpp"  // is_message
#include "herald/error.hpp"
#include "herald/event.hpp"
#include "herald/message.hpp"
#include "herald/runtime/metrics.hpp"
#include "herald/store/outbox_store.hpp"

namespace herald {

struct outbox_options {
  /// The CloudEvents source of messages staged here.
  std::string source = "/herald/outbox";
  /// Where the relay publishes a message staged without one (a subject, a
  /// topic's or a queue's name); empty: the event's type.
  std::string destination{};
  /// Keys are spread over this many partitions, which relays share out.
  /// Every process staging into and relaying from one store must agree.
  std::uint32_t partitions = 16;
  /// stage() refuses a message whose encoded envelope is larger.
  std::size_t max_message_bytes = std::size_t{256} << 10;
  /// Stamps stage times (and the event's time, if it has none).
  clock_ref clock{};
  /// Counts staged messages. Null: nothing is counted.
  metrics_registry* metrics = nullptr;
};

/// Per stage(): where the message goes and what keeps it in order.
struct stage_options {
  std::string destination{};  ///< empty: the outbox's destination
  /// Messages of one key are published in the order their transactions
  /// committed. Empty: the message's partitionkey attribute; none: no order.
  std::string key{};
};

/// The transactional outbox: stage() writes a message in the transaction the
/// application writes its own rows in, so it exists if and only if they
/// commit; a herald::relay publishes it afterwards. Include the backend's
/// header for the store (herald/store/memory_outbox.hpp or
/// herald/sqlite/sqlite_outbox.hpp).
template <class Store>
class outbox {
  static_assert(detail::check_storage<Store, outbox_storage<Store>>("outbox"));

 public:
  using storage_type = outbox_storage<Store>;
  using transaction = typename Store::transaction;

  explicit outbox(Store& store, outbox_options options = {})
      : store_(&store), storage_(store), options_(std::move(options)) {
    if (options_.partitions == 0) {
      throw error(errc::invalid_argument, "outbox: partitions must be at least 1");
    }
    storage_.agree_partitions(options_.partitions);
    if (options_.metrics) {
      staged_ = options_.metrics->counter("herald_outbox_staged_total",
                                          "Messages staged in the outbox (rolled back ones too).");
    }
  }

  /// Stages `event` in `tx`; returns the message's id. Correlation, causation
  /// and traceparent are taken now, from the message being handled on this
  /// thread: a relay batch mixes many requests' messages.
  template <class T>
  requires(!detail::is_message<T>::value) std::string
      stage(transaction& tx, const T& event, const stage_options& options = {}) {
    return stage(tx, message<T>(event), options);
  }

  /// Stages a message; attributes left empty are filled as a publish fills them.
  template <class T>
  std::string stage(transaction& tx, message<T> m, const stage_options& options = {}) {
    if constexpr (detail::check_event<T>()) {
      const time_point now = options_.clock.now();
      if (!m.time) m.time = now;
      detail::fill_blank_attributes(m, event_type_v<T>, options_.source, options_.clock,
                                    detail::current_frame);
      outbox_draft d;
      d.id = m.id;
      d.destination = !options.destination.empty()    ? options.destination
                      : !options_.destination.empty() ? options_.destination
                                                      : std::string(event_type_v<T>);
      d.key = !options.key.empty() ? options.key : m.partitionkey;
      d.partition = partition_of(d.key.empty() ? d.id : d.key);
      d.body = encode_bounded(m);
      d.staged_at = now;
      storage_.stage(tx, std::span<const outbox_draft>(&d, 1));
      staged_.add();
      return std::move(d.id);
    } else {
      return {};
    }
  }

  /// A transaction of another store does not stage here: say so at compile time.
  template <class Transaction, class T>
  requires(!std::is_same_v<std::decay_t<Transaction>, transaction>) std::string
      stage(Transaction&, const T&, const stage_options& = {}) {
    static_assert(detail::always_false<Transaction>,
                  "herald: outbox::stage takes a transaction of the outbox's own store "
                  "(store.begin()): the message must commit with the rows written in it");
    return {};
  }

  /// The partition a key's messages go to.
  [[nodiscard]] std::uint32_t partition_of(std::string_view key) const noexcept {
    return static_cast<std::uint32_t>(detail::stable_hash(key) % options_.partitions);
  }

  /// Messages parked after too many failed publishes, oldest first.
  [[nodiscard]] std::vector<parked_record> parked(std::size_t limit = 100) {
    return storage_.parked(limit);
  }
  /// Lets a parked message (nullopt: every one) be published again; returns how many.
  std::size_t release(std::optional<std::int64_t> seq = std::nullopt) {
    return storage_.release(seq);
  }
  [[nodiscard]] outbox_stats stats() { return storage_.stats(options_.clock.now()); }

  [[nodiscard]] Store& store() noexcept { return *store_; }
  [[nodiscard]] storage_type& storage() noexcept { return storage_; }
  [[nodiscard]] const outbox_options& options() const noexcept { return options_; }

 private:
  template <class T>
  std::string encode_bounded(const message<T>& m) const {
    try {
      return encode(m, decode_limits{options_.max_message_bytes, decode_limits{}.max_depth});
    } catch (const error& e) {
      if (e.code() != errc::limit_exceeded) throw;
      throw error(errc::limit_exceeded,
                  "outbox: a " + std::string(event_type_v<T>) +
                      " is larger than the outbox's max_message_bytes (" +
                      std::to_string(options_.max_message_bytes) +
                      "), so it was not staged and the transaction should not commit as if it "
                      "were: send a reference to the data instead, or raise the limit (" +
                      e.what() + ")");
    }
  }

  Store* store_;
  storage_type storage_;
  outbox_options options_;
  metric_ref staged_;
};

}  // namespace herald
