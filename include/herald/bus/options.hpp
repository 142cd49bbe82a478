// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>      // queue capacity
#include <exception>    // std::exception_ptr
#include <functional>   // the error handler is stored, any callable
#include <string>       // the default source
#include <string_view>  // event type names

#include "herald/attributes.hpp"
#include "herald/clock.hpp"
#include "herald/error.hpp"

namespace herald {

class executor;
class failure_sink;

/// What publish_async does when the bus's queue is full.
enum class overflow_policy {
  block,        ///< wait for room (back-pressure on the publisher)
  reject,       ///< throw herald::overflow_error; the message is not queued
  drop_oldest,  ///< discard the oldest queued message and count it in dropped()
};

/// A handler threw. Passed to the bus's error handler; valid only during the call.
struct handler_failure {
  std::string_view event_type;
  const attributes& message;  ///< the message being handled when it threw
  std::exception_ptr error;

  /// The exception's what(), or a note that it was not a std::exception.
  [[nodiscard]] std::string what() const { return detail::what_of(error); }
};

/// Called on the publishing (or executor) thread for each handler that throws,
/// instead of the failure sink: a filter for those who want to fail fast. If
/// it throws itself, the publish stops and the exception reaches the
/// publisher: rethrowing `failure.error` is how. On the async path the next
/// drain() rethrows it instead, and other messages go on.
using error_handler = std::function<void(const handler_failure&)>;

/// Configuration of a bus, fixed at construction.
struct bus_options {
  /// The CloudEvents source of messages this bus gives attributes to.
  std::string source = "/herald/bus";
  /// Stamps the time of messages this bus gives attributes to. Tests pass a
  /// testing clock: `.clock = manual`.
  clock_ref clock{};
  /// Receives handler failures (failure_kind::handler_threw, named by event
  /// type, with the message id); null: one line on stderr. The bus goes on.
  failure_sink* failures = nullptr;
  /// If set, handler failures go here instead of to the sink (see error_handler).
  error_handler on_error;
  /// Runs publish_async deliveries; must outlive the bus. Null: no async.
  executor* async_executor = nullptr;
  /// Messages publish_async may queue before the overflow policy applies.
  std::size_t queue_capacity = 1024;
  overflow_policy overflow = overflow_policy::block;
  /// How many executor threads may deliver this bus's messages at once. With
  /// 1 (the default) messages are delivered in publish_async order.
  std::size_t max_concurrency = 1;
};

}  // namespace herald
