// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>    // timeouts, heartbeats
#include <cstddef>   // concurrency
#include <cstdint>   // seeds
#include <optional>  // the clock, unless the queue's
#include <string>    // the queue's name, as a label

#include "herald/clock.hpp"
#include "herald/queue/retry_policy.hpp"
#include "herald/runtime/metrics.hpp"

namespace herald {

class executor;
class failure_sink;

struct worker_options {
  /// Handlers of this worker running at once; the worker leases up to its
  /// free slots in one batch.
  std::size_t concurrency = 1;
  /// Messages leased beyond the running handlers, so that a handler that
  /// finishes takes the next at once and leases come in bigger batches;
  /// unset: as many as `concurrency`. They are leased (and heartbeaten)
  /// while they wait; 0 for strict fairness between many workers.
  std::optional<std::size_t> prefetch;
  duration visibility_timeout = std::chrono::seconds(30);
  duration heartbeat{};  ///< how often leases in flight are extended; 0: a third of the timeout
  retry_policy retry;
  /// The wait between leases when no send of this process wakes the worker
  /// (sends of other processes to a shared SQLite file are found this way).
  duration poll_interval = std::chrono::milliseconds(100);
  /// Runs the handlers; many workers (and buses) may share one. Null: the
  /// host's, or else `concurrency` threads of the worker's own.
  executor* handler_executor = nullptr;
  /// Receives every failure; null: the host's, or else one line on stderr.
  failure_sink* failures = nullptr;
  /// Counts into it; null: the host's, or else nothing is counted.
  metrics_registry* metrics = nullptr;
  /// Reads the time under start(); unset: the queue's clock.
  std::optional<clock_ref> clock;
  std::uint64_t seed = 0;  ///< jitter's random seed; 0: a random one
};

namespace detail {

// The series a worker updates, labelled by its queue; all no-ops without a registry.
struct worker_metrics {
  metric_ref delivered, handled, failed, retried, dead_lettered, in_flight, duration;

  worker_metrics() = default;
  worker_metrics(metrics_registry* r, const std::string& queue) {
    if (!r) return;
    metric_labels l{{"queue", queue}};
    delivered = r->counter("herald_queue_delivered_total", "Messages leased to a handler.", l);
    handled = r->counter("herald_queue_handled_total", "Messages handled and acked.", l);
    failed = r->counter("herald_queue_failed_total", "Handler attempts that failed.", l);
    retried = r->counter("herald_queue_retried_total", "Failed messages scheduled again.", l);
    dead_lettered = r->counter("herald_queue_dead_lettered_total",
                               "Messages moved to the dead-letter queue.", l);
    in_flight = r->gauge("herald_worker_in_flight", "Messages this worker holds now.", l);
    duration = r->histogram("herald_queue_handler_duration_seconds",
                            "How long handlers ran, failures included.", l);
  }
  void leased(std::size_t n) const noexcept {
    if (n > 0) delivered.add(static_cast<double>(n));
  }
};

}  // namespace detail
}  // namespace herald
