// SPDX-License-Identifier: MIT
#pragma once

#include <exception>    // std::exception_ptr, described for reports
#include <stdexcept>    // std::runtime_error, the base users already catch
#include <string>       // messages and attribute names are owned strings
#include <string_view>  // to_string(errc)
#include <utility>      // std::move

namespace herald {

/// Stable error codes; docs/errors.md lists each with what to do about it.
enum class errc {
  invalid_argument = 1,      ///< a caller passed a value that breaks a documented rule
  decode_failed = 2,         ///< bytes are not a valid CloudEvents 1.0 JSON event
  limit_exceeded = 3,        ///< input is larger or deeper than the decode limits allow
  overflow = 4,              ///< a bounded queue was full and its policy is `reject`
  stopped = 5,               ///< work was offered to an executor that has stopped
  invalid_pattern = 6,       ///< an event pattern breaks the pattern language's rules
  storage_failed = 7,        ///< the store's database reported an error not listed below
  storage_busy = 8,          ///< another connection held a lock past the busy timeout
  storage_full = 9,          ///< the disk or the database's page limit is full
  storage_corrupt = 10,      ///< the file is not a database, or is damaged
  schema_too_new = 11,       ///< the file was written by a newer herald
  would_deadlock = 12,       ///< the call would wait for work that only this thread can do
  storage_lost = 13,         ///< the database file was deleted or replaced while open
  foreign_transaction = 14,  ///< a transaction begun on one store was passed to another
  lease_lost = 15,           ///< the message's lease expired and another worker may hold it
  permanent_failure = 16,    ///< a handler refused a message that no retry can help
  handler_failed = 17,       ///< a handler threw an exception that is not a herald::error
  storage_unavailable = 18,  ///< the database server cannot be reached, or the connection broke
  broker_unavailable = 19,   ///< the message broker cannot be reached, or did not answer in time
  broker_refused = 20,  ///< the message broker answered with an error (a stream's settings, say)
};

/// The code's stable name, as docs/errors.md lists it.
[[nodiscard]] constexpr std::string_view to_string(errc code) noexcept {
  switch (code) {
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::decode_failed:
      return "decode_failed";
    case errc::limit_exceeded:
      return "limit_exceeded";
    case errc::overflow:
      return "overflow";
    case errc::stopped:
      return "stopped";
    case errc::invalid_pattern:
      return "invalid_pattern";
    case errc::storage_failed:
      return "storage_failed";
    case errc::storage_busy:
      return "storage_busy";
    case errc::storage_full:
      return "storage_full";
    case errc::storage_corrupt:
      return "storage_corrupt";
    case errc::schema_too_new:
      return "schema_too_new";
    case errc::would_deadlock:
      return "would_deadlock";
    case errc::storage_lost:
      return "storage_lost";
    case errc::foreign_transaction:
      return "foreign_transaction";
    case errc::lease_lost:
      return "lease_lost";
    case errc::permanent_failure:
      return "permanent_failure";
    case errc::handler_failed:
      return "handler_failed";
    case errc::storage_unavailable:
      return "storage_unavailable";
    case errc::broker_unavailable:
      return "broker_unavailable";
    case errc::broker_refused:
      return "broker_refused";
  }
  return "unknown";
}

/// Base of every exception herald throws. what() starts with "herald: " and says
/// what was wrong and what to do.
class error : public std::runtime_error {
 public:
  error(errc code, const std::string& message)
      : std::runtime_error("herald: " + message), code_(code) {}

  [[nodiscard]] errc code() const noexcept { return code_; }

 private:
  errc code_;
};

/// Thrown by decode_envelope: the input is not a CloudEvents 1.0 JSON event,
/// or breaks a decode limit. attribute() names the offending attribute, or is
/// empty when the problem is the document as a whole (syntax, size, depth).
class decode_error : public error {
 public:
  decode_error(errc code, std::string attribute, const std::string& message)
      : error(code, message), attribute_(std::move(attribute)) {}

  [[nodiscard]] const std::string& attribute() const noexcept { return attribute_; }

 private:
  std::string attribute_;
};

/// Thrown by publish_async on a bus whose overflow policy is `reject` when its
/// queue is full.
class overflow_error : public error {
 public:
  explicit overflow_error(const std::string& message) : error(errc::overflow, message) {}
};

/// Thrown by event_pattern::parse: path() is where in the pattern the
/// offending part is, e.g. "detail.state[0].prefix".
class pattern_error : public error {
 public:
  pattern_error(std::string path, const std::string& message)
      : error(errc::invalid_pattern, message), path_(std::move(path)) {}

  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

/// Thrown by a store when its database fails. Nothing the failed call was
/// doing took effect (its transaction rolled back). transient() tells
/// whether trying again later may succeed (a lock, a full disk).
class store_error : public error {
 public:
  store_error(errc code, const std::string& message) : error(code, message) {}

  [[nodiscard]] bool transient() const noexcept {
    return code() == errc::storage_busy || code() == errc::storage_full ||
           code() == errc::storage_unavailable;
  }
};

namespace detail {

// The what() of a caught exception, for reports that must not throw again.
inline std::string what_of(const std::exception_ptr& failure) {
  try {
    if (failure) std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
  }
  return "an exception not derived from std::exception";
}

// herald's code for a caught exception: its own, or handler_failed.
inline errc code_of(const std::exception_ptr& failure) noexcept {
  try {
    if (failure) std::rethrow_exception(failure);
  } catch (const error& e) {
    return e.code();
  } catch (...) {
  }
  return errc::handler_failed;
}

}  // namespace detail
}  // namespace herald
