// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>     // microseconds, the collector's id
#include <functional>  // how it is read
#include <string>      // the schema label

#include "herald/runtime/metrics.hpp"

namespace herald::detail::postgres {

// Exports herald_postgres_oldest_transaction_seconds{schema}: `read` asks
// the server (in microseconds) at each render. Returns the collector's id.
inline std::uint64_t export_oldest_transaction(metrics_registry& r, const std::string& schema,
                                               std::function<std::int64_t()> read) {
  auto oldest = r.gauge("herald_postgres_oldest_transaction_seconds",
                        "Age of the oldest open transaction in the database: it holds back the "
                        "xmin horizon, so deleted queue rows cannot be vacuumed.",
                        {{"schema", schema}});
  // If the server is away (or the pool has no free connection), read()
  // throws: the registry counts it and the gauge keeps its last value.
  return r.add_collector(
      [oldest, read = std::move(read)] { oldest.set(static_cast<double>(read()) / 1e6); });
}

}  // namespace herald::detail::postgres
