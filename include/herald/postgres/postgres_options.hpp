// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>   // timeouts
#include <cstddef>  // the pool's size
#include <string>   // the schema's name

#include "herald/runtime/failure.hpp"
#include "herald/runtime/metrics.hpp"

namespace herald {

struct postgres_options {
  /// The schema that holds herald's tables, created if missing; several
  /// applications (or tests) on one database each take their own.
  std::string schema = "herald";
  /// Connections the store opens at most; calls beyond it wait for one.
  /// A transaction holds one until it ends.
  std::size_t pool_size = 8;
  /// A statement running longer fails with errc::storage_busy (PostgreSQL's
  /// statement_timeout); 0: no limit.
  std::chrono::milliseconds statement_timeout{30000};
  /// Waiting longer for a row or table lock fails with errc::storage_busy
  /// (lock_timeout); 0: no limit.
  std::chrono::milliseconds lock_timeout{10000};
  /// What pg_stat_activity shows for the store's connections.
  std::string application_name = "herald";
  /// How long opening a connection may take before it fails.
  std::chrono::seconds connect_timeout{10};
  /// Listen for other processes' sends (LISTEN/NOTIFY on one more
  /// connection, opened when a worker first waits), so that idle workers
  /// here wake at once; false: they notice them at their poll_interval.
  bool listen = true;
  /// How long the start-up probe waits for its own notification before it
  /// reports that notifications do not arrive and leaves workers to poll.
  std::chrono::milliseconds notification_probe_timeout{2000};
  /// Receives what an operator should hear about (notifications that do not
  /// arrive, so that workers poll); null: one line on stderr.
  failure_sink* failures = nullptr;
  /// Exports `herald_postgres_oldest_transaction_seconds{schema}`, read from
  /// the server at each render: the age of the oldest open transaction of the
  /// database, which holds back the xmin horizon (rows deleted since cannot be
  /// vacuumed, so the queue table bloats). The registry must outlive the store.
  metrics_registry* metrics = nullptr;
};

}  // namespace herald
