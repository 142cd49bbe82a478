// SPDX-License-Identifier: MIT
#pragma once

// The transports the conformance suite runs over, each a fixture that makes
// one transport for one test, and a collector to wait on deliveries that
// arrive on other threads (a broker's) or on the publishing one (inproc).

#include <chrono>
#include <condition_variable>
#include <herald/transport/inproc.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "support/failure_recorder.hpp"
#if HERALD_TEST_NATS
#include <herald/nats/nats_transport.hpp>

#include "support/nats_server.hpp"
#endif

namespace herald_test {

// A message of these bytes (and id: a broker de-duplicates by it).
inline herald::wire_message bytes(std::string data, std::string id = {}) {
  herald::wire_message m;
  m.data = std::move(data);
  m.id = std::move(id);
  return m;
}

// What a subscriber received, waited on with a generous deadline.
class collector {
 public:
  void add(const herald::wire_message& m) {
    std::lock_guard lock(mutex_);
    messages_.push_back(m.data);
    attempts_.push_back(m.delivery_attempt);
    changed_.notify_all();
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return messages_.size() >= n; });
  }
  [[nodiscard]] std::vector<std::string> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  [[nodiscard]] std::vector<std::uint32_t> attempts() const {
    std::lock_guard lock(mutex_);
    return attempts_;
  }
  [[nodiscard]] std::size_t size() const {
    std::lock_guard lock(mutex_);
    return messages_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> messages_;
  std::vector<std::uint32_t> attempts_;
};

struct inproc_backend {
  static constexpr bool durable = false;  // nothing outlives a subscriber
  failure_recorder failures;
  herald::inproc_transport transport{herald::inproc_transport::options{3, &failures}};
  std::string subject(const std::string& name) const { return "conformance." + name; }
};

#if HERALD_TEST_NATS
// Streams and subjects of their own per test; quick retries; a short fetch
// wait, so that a subscription stops quickly.
inline herald::nats_options test_nats_options(herald::failure_sink* failures) {
  herald::nats_options o;
  o.url = nats_url();
  o.stream_prefix = nats_unique("t");
  o.dead_letter_subject = o.stream_prefix + ".dead";
  o.retry = {std::chrono::milliseconds(20), 2.0, std::chrono::milliseconds(200), 3, false};
  o.fetch_wait = std::chrono::milliseconds(200);
  o.failures = failures;
  return o;
}

struct nats_backend {
  static constexpr bool durable = true;
  failure_recorder failures;
  herald::nats_options options = test_nats_options(&failures);
  herald::nats_transport transport{options};
  std::string subject(const std::string& name) const { return options.stream_prefix + "." + name; }
};
using transport_backends = std::tuple<inproc_backend, nats_backend>;
#else
using transport_backends = std::tuple<inproc_backend>;
#endif

}  // namespace herald_test
