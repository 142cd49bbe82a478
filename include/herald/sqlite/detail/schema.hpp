// SPDX-License-Identifier: MIT
#pragma once

// The SQLite store's tables, by the schema version that added them; the
// store's migrate() applies the versions a file lacks, in one transaction.

namespace herald::detail::sqlite {

// Version 1: the messages.
inline constexpr const char* schema_v1 = R"(CREATE TABLE herald_queue (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      queue TEXT NOT NULL,
      id TEXT NOT NULL,
      body BLOB NOT NULL,
      grp TEXT NOT NULL DEFAULT '',
      enqueued_at INTEGER NOT NULL,
      available_at INTEGER NOT NULL,
      lease INTEGER NOT NULL DEFAULT 0,
      lease_until INTEGER NOT NULL DEFAULT 0,
      attempts INTEGER NOT NULL DEFAULT 0,
      first_attempt_at INTEGER,
      last_attempt_at INTEGER,
      last_error TEXT NOT NULL DEFAULT '',
      dead INTEGER NOT NULL DEFAULT 0,
      dead_at INTEGER);
    CREATE INDEX herald_queue_order ON herald_queue (queue, dead, seq);)";

// Version 2: deduplication and the FIFO-group index.
inline constexpr const char* schema_v2 = R"(CREATE TABLE herald_dedup (
      queue TEXT NOT NULL,
      dedup_id TEXT NOT NULL,
      expires_at INTEGER NOT NULL,
      id TEXT NOT NULL,
      PRIMARY KEY (queue, dedup_id));
    CREATE INDEX herald_queue_groups ON herald_queue (queue, grp, dead, seq) WHERE grp <> '';)";

}  // namespace herald::detail::sqlite
