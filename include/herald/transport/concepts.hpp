// SPDX-License-Identifier: MIT
#pragma once

#include <concepts>     // std::same_as
#include <cstddef>      // in-flight limits
#include <cstdint>      // sequence numbers
#include <functional>   // wire handlers
#include <memory>       // a delivery's decoded form, shared
#include <string>       // subjects, payloads, group names
#include <string_view>  // subjects

#include "herald/detail/always_false.hpp"
#include "herald/subscription.hpp"

namespace herald {

/// Opts a type into the transport concept: `using transport_concept = herald::transport_tag;`.
struct transport_tag {};

/// What travels through a transport: encoded bytes (a CloudEvent in JSON)
/// and, on delivery, the subject it was published to.
struct wire_message {
  std::string subject;
  std::string data;
  std::uint32_t delivery_attempt = 1;  ///< 2 and up: a redelivery
  /// The CloudEvent's id, where the publisher knows it (topics and relays
  /// do): a broker that de-duplicates by message id (JetStream's
  /// Nats-Msg-Id) drops a second publish of it. Empty: no de-duplication.
  std::string id{};

  /// Not on the wire: what a receiver decoded from `data`, kept with this
  /// delivery so that every subscriber it reaches decodes it once. A
  /// transport hands one wire_message to all the subscribers a delivery
  /// reaches, and leaves these alone. `decoded_by` says which decoder (event
  /// type) filled it.
  mutable std::shared_ptr<const void> decoded{};
  mutable const void* decoded_by = nullptr;
};

/// The transport's receipt: it has accepted the message.
struct publish_result {
  std::uint64_t sequence = 0;  ///< the transport's position for it, where it has one
  /// A broker that de-duplicates by message id had it already (JetStream's
  /// PubAck.duplicate): accepted, not published twice. A success.
  bool duplicate = false;
};

/// How to subscribe.
struct subscribe_options {
  /// Empty: fan-out (every subscriber gets every message). A name: competing
  /// consumers, each message goes to one member of the group.
  std::string group{};
  /// Where the broker keeps a position to resume from (durable consumers).
  std::string durable_name{};
  /// Messages this subscriber may hold unacknowledged at once; 0: the transport's default
  /// (in-process: no bound; each publisher waits for a free slot).
  std::size_t max_in_flight = 0;
};

/// Receives one message. Returning acknowledges it; throwing does not, and
/// the transport delivers it again (at least once).
using wire_handler = std::function<void(const wire_message&)>;

namespace detail {

template <class T>
concept declares_transport_tag = requires {
  typename T::transport_concept;
}
&&std::same_as<typename T::transport_concept, transport_tag>;

template <class T>
concept has_transport_publish = requires(T& t, std::string_view subject, wire_message m) {
  { t.publish(subject, std::move(m)) } -> std::same_as<publish_result>;
};

template <class T>
concept has_transport_subscribe = requires(T& t, std::string_view subject, subscribe_options o,
                                           wire_handler h) {
  { t.subscribe(subject, std::move(o), std::move(h)) } -> std::same_as<subscription>;
};

}  // namespace detail

/// Moves encoded envelopes between publishers and subscribers, in one process
/// or many. A type opts in with the tag, so nothing is a transport by accident.
template <class T>
concept transport = detail::declares_transport_tag<T> && detail::has_transport_publish<T> &&
    detail::has_transport_subscribe<T>;

namespace detail {

// One requirement at a time, so a type that falls short reads one sentence.
template <class T>
consteval bool check_transport() {
  if constexpr (!declares_transport_tag<T>) {
    static_assert(always_false<T>,
                  "herald: this type is not a transport: add `using transport_concept = "
                  "herald::transport_tag;`");
    return false;
  } else if constexpr (!has_transport_publish<T>) {
    static_assert(always_false<T>,
                  "herald: this transport lacks `herald::publish_result publish(std::string_view "
                  "subject, herald::wire_message message)`");
    return false;
  } else if constexpr (!has_transport_subscribe<T>) {
    static_assert(always_false<T>,
                  "herald: this transport lacks `herald::subscription subscribe(std::string_view "
                  "subject, herald::subscribe_options options, herald::wire_handler handler)`");
    return false;
  } else {
    return true;
  }
}

}  // namespace detail
}  // namespace herald
