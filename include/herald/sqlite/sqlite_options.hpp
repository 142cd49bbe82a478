// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>   // busy timeout
#include <cstddef>  // the disk reserve

namespace herald {

/// How much a commit waits for the disk (SQLite's `PRAGMA synchronous`, in WAL mode).
enum class sqlite_sync {
  off,     ///< no fsync: a crash of the process loses nothing, of the machine may corrupt
  normal,  ///< the default: a crash of the process loses nothing; of the machine, the last commits
  full,    ///< every commit is on disk when it returns
};

struct sqlite_options {
  sqlite_sync synchronous = sqlite_sync::normal;
  std::chrono::milliseconds busy_timeout{5000};  ///< how long to wait for another connection's lock
  /// Disk space set aside in `<path>-reserve` so that workers can still
  /// settle messages when the disk fills (0: none). The WAL is checkpointed
  /// before it outgrows half of it.
  std::size_t disk_reserve = std::size_t{4} << 20;
};

}  // namespace herald
