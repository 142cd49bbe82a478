// SPDX-License-Identifier: MIT
#pragma once

#include <fmt/core.h>  // the default sink's one line

#include <cstdint>      // attempts
#include <cstdio>       // stderr
#include <exception>    // what a sink throws
#include <optional>     // when a retry is due
#include <string_view>  // every field is a view, valid during the report
#include <utility>      // std::move

#include "herald/clock.hpp"
#include "herald/error.hpp"

namespace herald {

/// What went wrong, or what an operator should know.
enum class failure_kind {
  handler_threw,     ///< a handler threw; the message is retried or redelivered
  retry_scheduled,   ///< a queue message failed and comes again at retry_at
  dead_lettered,     ///< a message went to a dead-letter queue (text says why)
  decode_failed,     ///< bytes did not decode as the expected event
  store_failed,      ///< the store reported an error
  lease_lost,        ///< a lease expired before its message settled
  overflow_dropped,  ///< a bounded queue dropped a message
  stop_deadline,     ///< work was still running when a stop's deadline passed
  callback_threw,    ///< a user callback herald called threw (and was ignored)
  broker_failed,     ///< the message broker failed a call made for a part (a fetch, an ack)
};

[[nodiscard]] constexpr std::string_view to_string(failure_kind kind) noexcept {
  switch (kind) {
    case failure_kind::handler_threw:
      return "handler_threw";
    case failure_kind::retry_scheduled:
      return "retry_scheduled";
    case failure_kind::dead_lettered:
      return "dead_lettered";
    case failure_kind::decode_failed:
      return "decode_failed";
    case failure_kind::store_failed:
      return "store_failed";
    case failure_kind::lease_lost:
      return "lease_lost";
    case failure_kind::overflow_dropped:
      return "overflow_dropped";
    case failure_kind::stop_deadline:
      return "stop_deadline";
    case failure_kind::callback_threw:
      return "callback_threw";
    case failure_kind::broker_failed:
      return "broker_failed";
  }
  return "unknown";
}

/// One report to the failure sink. Every view is valid only during the call:
/// a sink that keeps a record copies what it needs.
struct failure {
  failure_kind kind{};
  std::string_view part;        ///< "worker", "bus", "topic", "inproc", "thread_pool", "host"…
  std::string_view name;        ///< the queue, topic, subject or event type
  errc code{};                  ///< herald's code for it (handler_failed for a user exception)
  std::string_view message_id;  ///< empty when no message is concerned
  std::uint32_t attempt = 0;    ///< 1 for the first; 0 when not counted
  std::string_view text;        ///< says what happened and what to do
  std::optional<time_point> retry_at{};  ///< when the message comes again (retry_scheduled)
  /// The message's bytes where the part holds nothing else that names it
  /// (an inproc message dropped, a topic message that did not decode).
  std::string_view payload{};
};

/// Where every part reports what went wrong. Set one per host (it reaches
/// every part it runs) or per part; none: the default, one line on stderr.
/// report() may be called from any thread herald runs, concurrently: make it
/// thread-safe. What it throws is ignored (after a line on stderr).
class failure_sink {
 public:
  virtual ~failure_sink() = default;
  virtual void report(const failure& f) = 0;
};

/// Prints each failure as one line on stderr.
class stderr_failure_sink final : public failure_sink {
 public:
  void report(const failure& f) override {
    fmt::print(stderr, "herald: {} '{}': {}{}{}: {}\n", f.part, f.name, to_string(f.kind),
               f.message_id.empty() ? "" : " of message ", f.message_id, f.text);
  }
};

/// A sink made of a callable taking `const herald::failure&`, e.g. a bridge
/// to spdlog (docs/runtime.md).
template <class F>
class failure_callback final : public failure_sink {
 public:
  explicit failure_callback(F f) : f_(std::move(f)) {}
  void report(const failure& f) override { f_(f); }

 private:
  F f_;
};

namespace detail {

inline failure_sink& default_failure_sink() noexcept {
  static stderr_failure_sink sink;
  return sink;
}

// Reports to `sink` (null: the default); never throws.
inline void report_failure(failure_sink* sink, const failure& f) noexcept {
  try {
    (sink ? *sink : default_failure_sink()).report(f);
  } catch (...) {
    try {
      fmt::print(stderr, "herald: a failure sink threw ({}) while reporting: {}\n",
                 what_of(std::current_exception()), f.text);
    } catch (...) {
    }
  }
}

}  // namespace detail
}  // namespace herald
