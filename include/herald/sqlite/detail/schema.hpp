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

// Version 3: the outbox, its partition leases and relays, and the inbox.
// `sent = 0 AND parked = 0` is the backlog; a key's messages wait behind an
// unsent one of the same key with a lower seq.
inline constexpr const char* schema_v3 = R"(CREATE TABLE herald_outbox (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT NOT NULL,
      destination TEXT NOT NULL,
      key TEXT NOT NULL DEFAULT '',
      part INTEGER NOT NULL,
      body BLOB NOT NULL,
      staged_at INTEGER NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      not_before INTEGER NOT NULL DEFAULT 0,
      last_error TEXT NOT NULL DEFAULT '',
      parked INTEGER NOT NULL DEFAULT 0,
      parked_at INTEGER,
      sent INTEGER NOT NULL DEFAULT 0,
      sent_at INTEGER);
    CREATE INDEX herald_outbox_pending ON herald_outbox (sent, seq) WHERE sent = 0;
    CREATE INDEX herald_outbox_keys ON herald_outbox (key, seq) WHERE sent = 0 AND key <> '';
    CREATE INDEX herald_outbox_sent ON herald_outbox (sent_at) WHERE sent = 1;
    CREATE TABLE herald_outbox_partitions (
      part INTEGER PRIMARY KEY,
      owner TEXT NOT NULL,
      token INTEGER NOT NULL,
      lease_until INTEGER NOT NULL);
    CREATE TABLE herald_outbox_relays (owner TEXT PRIMARY KEY, seen_until INTEGER NOT NULL);
    CREATE TABLE herald_inbox (
      consumer TEXT NOT NULL,
      id TEXT NOT NULL,
      claimed_at INTEGER NOT NULL,
      PRIMARY KEY (consumer, id)) WITHOUT ROWID;
    CREATE INDEX herald_inbox_age ON herald_inbox (claimed_at);)";

// Version 4: the outbox's partition count, one row, recorded by the first
// outbox opened: processes that disagree on it are refused.
inline constexpr const char* schema_v4 = R"(CREATE TABLE herald_outbox_settings (
      one INTEGER PRIMARY KEY CHECK (one = 1),
      partitions INTEGER NOT NULL);)";

}  // namespace herald::detail::sqlite
