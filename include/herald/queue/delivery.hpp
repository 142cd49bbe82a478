// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>      // attempts
#include <stop_token>   // the worker's stop, as the handler sees it
#include <string>       // the queue's name
#include <type_traits>  // handler signatures

#include "herald/clock.hpp"
#include "herald/error.hpp"
#include "herald/message.hpp"

namespace herald {
namespace detail {
template <class T, class Store>
struct worker_core;
}  // namespace detail

/// Thrown by a handler for a message that no retry can help (a missing
/// customer, a malformed order): the message goes to the dead-letter queue at once.
class permanent_failure : public error {
 public:
  explicit permanent_failure(const std::string& reason)
      : error(errc::permanent_failure, reason), reason_(reason) {}

  /// The text given, without what()'s "herald: " prefix.
  [[nodiscard]] const std::string& reason() const noexcept { return reason_; }

 private:
  std::string reason_;
};

/// One delivery of a queue message to a worker's handler: the message, which
/// attempt this is, the worker's stop signal and the lease. A handler taking
/// `herald::delivery<T>&` gets it; valid only during the call, on the thread
/// that runs the handler.
template <class T>
class delivery {
 public:
  /// The message and its attributes.
  [[nodiscard]] const herald::message<T>& message() const noexcept { return *message_; }
  /// The event.
  [[nodiscard]] const T& data() const noexcept { return message_->data; }
  /// 1 for the first attempt.
  [[nodiscard]] std::uint32_t attempt() const noexcept { return attempt_; }
  /// Fires when the worker stops: a long handler should end early (and
  /// throw, so that the message is retried, or finish).
  [[nodiscard]] std::stop_token stop_token() const noexcept { return stop_; }
  [[nodiscard]] const std::string& queue_name() const noexcept { return *queue_; }

  /// Keeps the message leased until at least now + `by` (the heartbeat keeps
  /// it leased too, one visibility timeout at a time). False: the lease was
  /// lost (another worker may hold the message now).
  bool extend(duration by) { return extend_(context_, by); }

 private:
  template <class, class>
  friend struct detail::worker_core;
  using extender = bool (*)(void*, duration);
  delivery(const herald::message<T>& m, std::uint32_t attempt, std::stop_token stop,
           const std::string& queue, extender extend_fn, void* context) noexcept
      : message_(&m),
        attempt_(attempt),
        stop_(std::move(stop)),
        queue_(&queue),
        extend_(extend_fn),
        context_(context) {}

  const herald::message<T>* message_;
  std::uint32_t attempt_;
  std::stop_token stop_;
  const std::string* queue_;
  extender extend_;
  void* context_;
};

namespace detail {

template <class T, class F>
constexpr bool takes_delivery = std::is_invocable_v<F&, delivery<T>&>;

}  // namespace detail
}  // namespace herald
