// SPDX-License-Identifier: MIT
#pragma once

// The PostgreSQL store's tables, by the schema version that added them; the
// store applies the versions a database lacks in one transaction, under an
// advisory lock, so that processes starting at once do not race. `{s}`
// stands for the quoted schema name.

#include <string>       // SQL text
#include <string_view>  // the schema's name

namespace herald::detail::postgres {

inline constexpr int schema_version = 5;

// Version 1: the messages and the lease tokens. Finished messages are
// deleted, so the table stays small; autovacuum runs early for the churn.
inline constexpr const char* schema_v1 = R"(CREATE TABLE {s}.queue (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      queue text NOT NULL,
      id text NOT NULL,
      body text NOT NULL,
      grp text NOT NULL DEFAULT '',
      enqueued_at bigint NOT NULL,
      available_at bigint NOT NULL,
      lease bigint NOT NULL DEFAULT 0,
      lease_until bigint NOT NULL DEFAULT 0,
      attempts integer NOT NULL DEFAULT 0,
      first_attempt_at bigint,
      last_attempt_at bigint,
      last_error text NOT NULL DEFAULT '',
      dead boolean NOT NULL DEFAULT false,
      dead_at bigint)
      WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02,
            autovacuum_vacuum_insert_scale_factor = 0.05);
    CREATE INDEX queue_order ON {s}.queue (queue, seq) WHERE NOT dead;
    CREATE INDEX queue_dead ON {s}.queue (queue, seq) WHERE dead;
    CREATE SEQUENCE {s}.lease_token;)";

// Version 2: deduplication through a unique key, and the FIFO-group index.
inline constexpr const char* schema_v2 = R"(CREATE TABLE {s}.dedup (
      queue text NOT NULL,
      dedup_id text NOT NULL,
      expires_at bigint NOT NULL,
      id text NOT NULL,
      PRIMARY KEY (queue, dedup_id));
    CREATE INDEX queue_groups ON {s}.queue (queue, grp, seq) WHERE NOT dead AND grp <> '';)";

// Version 3: ungrouped messages by themselves, so that leasing reads only
// them and the head of each group, never the messages queued behind a head.
inline constexpr const char* schema_v3 =
    R"(CREATE INDEX queue_ungrouped ON {s}.queue (queue, seq) WHERE NOT dead AND grp = '';)";

// Version 4: the outbox, its partition leases and relays, and the inbox.
inline constexpr const char* schema_v4 = R"(CREATE TABLE {s}.outbox (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      id text NOT NULL,
      destination text NOT NULL,
      key text NOT NULL DEFAULT '',
      part integer NOT NULL,
      body text NOT NULL,
      staged_at bigint NOT NULL,
      attempts integer NOT NULL DEFAULT 0,
      not_before bigint NOT NULL DEFAULT 0,
      last_error text NOT NULL DEFAULT '',
      parked boolean NOT NULL DEFAULT false,
      parked_at bigint,
      sent boolean NOT NULL DEFAULT false,
      sent_at bigint)
      WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02,
            autovacuum_vacuum_insert_scale_factor = 0.05);
    CREATE INDEX outbox_pending ON {s}.outbox (part, seq) WHERE NOT sent;
    CREATE INDEX outbox_keys ON {s}.outbox (key, seq) WHERE NOT sent AND key <> '';
    CREATE INDEX outbox_sent ON {s}.outbox (sent_at) WHERE sent;
    CREATE TABLE {s}.outbox_partitions (
      part integer PRIMARY KEY,
      owner text NOT NULL,
      token bigint NOT NULL,
      lease_until bigint NOT NULL);
    CREATE TABLE {s}.outbox_relays (owner text PRIMARY KEY, seen_until bigint NOT NULL);
    CREATE TABLE {s}.inbox (
      consumer text NOT NULL,
      id text NOT NULL,
      claimed_at bigint NOT NULL,
      PRIMARY KEY (consumer, id));
    CREATE INDEX inbox_age ON {s}.inbox (claimed_at);)";

// Version 5: the outbox's partition count, one row, recorded by the first
// outbox opened: processes that disagree on it are refused.
inline constexpr const char* schema_v5 = R"(CREATE TABLE {s}.outbox_settings (
      one boolean PRIMARY KEY DEFAULT true CHECK (one),
      partitions integer NOT NULL);)";

// `sql` with every {s} replaced by the quoted schema.
inline std::string in_schema(std::string_view sql, std::string_view schema) {
  std::string out;
  out.reserve(sql.size() + 64);
  for (std::size_t i = 0; i < sql.size();) {
    if (sql.compare(i, 3, "{s}") == 0) {
      out += schema;
      i += 3;
    } else {
      out += sql[i++];
    }
  }
  return out;
}

}  // namespace herald::detail::postgres
