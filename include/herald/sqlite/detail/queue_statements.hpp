// SPDX-License-Identifier: MIT
#pragma once

#include <sqlite3.h>

#include <string_view>  // SQL text

#include "herald/sqlite/detail/statement.hpp"

namespace herald::detail::sqlite {

// The queue store's statements, prepared once per connection.
struct queue_statements {
  statement insert, claim_dedup, dedup_id, prune_dedup, lease, ack, extend, retry, dead_letter,
      dead_letters, redrive_copy, redrive_remove, purge, stats;

  queue_statements() = default;
  explicit queue_statements(sqlite3* db) {
    auto make = [&](std::string_view sql) { return statement(db, sql); };
    insert = make(
        "INSERT INTO herald_queue (queue, id, body, grp, enqueued_at, available_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    // A deduplication id is claimed unless a claim inside its window holds it.
    claim_dedup = make(
        "INSERT INTO herald_dedup (queue, dedup_id, expires_at, id) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (queue, dedup_id) DO UPDATE SET expires_at = excluded.expires_at, "
        "id = excluded.id WHERE herald_dedup.expires_at <= ?5");
    dedup_id = make("SELECT id FROM herald_dedup WHERE queue = ?1 AND dedup_id = ?2");
    prune_dedup = make("DELETE FROM herald_dedup WHERE queue = ?1 AND expires_at <= ?2");
    // Only the oldest live message of a group may be leased, so a group goes
    // one at a time in send order. PostgreSQL: the same with FOR UPDATE SKIP LOCKED.
    lease = make(
        "UPDATE herald_queue SET lease = random(), lease_until = ?3, attempts = attempts + 1, "
        "first_attempt_at = coalesce(first_attempt_at, ?2), last_attempt_at = ?2 "
        "WHERE seq IN (SELECT m.seq FROM herald_queue m WHERE m.queue = ?1 AND m.dead = 0 "
        "AND m.available_at <= ?2 AND m.lease_until <= ?2 AND (m.grp = '' OR m.seq = "
        "(SELECT min(g.seq) FROM herald_queue g WHERE g.queue = m.queue AND g.grp = m.grp "
        "AND g.dead = 0)) ORDER BY m.seq LIMIT ?4) "
        "RETURNING seq, id, body, grp, attempts, enqueued_at, first_attempt_at, lease_until, "
        "lease");
    ack = make("DELETE FROM herald_queue WHERE seq = ?1 AND lease = ?2 AND dead = 0");
    // Never shorter: see memory_store::extend.
    extend = make(
        "UPDATE herald_queue SET lease_until = max(lease_until, ?3) "
        "WHERE seq = ?1 AND lease = ?2 AND dead = 0");
    retry = make(
        "UPDATE herald_queue SET lease = 0, lease_until = 0, available_at = ?3, last_error = ?4 "
        "WHERE seq = ?1 AND lease = ?2 AND dead = 0");
    dead_letter = make(
        "UPDATE herald_queue SET lease = 0, lease_until = 0, dead = 1, dead_at = ?3, "
        "last_error = ?4 WHERE seq = ?1 AND lease = ?2 AND dead = 0");
    dead_letters = make(
        "SELECT seq, id, body, grp, last_error, attempts, enqueued_at, first_attempt_at, "
        "last_attempt_at, dead_at FROM herald_queue WHERE queue = ?1 AND dead = 1 "
        "ORDER BY seq LIMIT ?2");
    // Back at the end of the queue (and of its group), as if sent now.
    redrive_copy = make(
        "INSERT INTO herald_queue (queue, id, body, grp, enqueued_at, available_at) "
        "SELECT queue, id, body, grp, enqueued_at, ?3 FROM herald_queue "
        "WHERE queue = ?1 AND dead = 1 AND (?2 IS NULL OR seq = ?2) ORDER BY seq");
    redrive_remove =
        make("DELETE FROM herald_queue WHERE queue = ?1 AND dead = 1 AND (?2 IS NULL OR seq = ?2)");
    purge = make("DELETE FROM herald_queue WHERE queue = ?1 AND dead = 1");
    stats = make(
        "SELECT coalesce(sum(dead = 1), 0), coalesce(sum(dead = 0 AND lease_until > ?2), 0), "
        "coalesce(sum(dead = 0 AND lease_until <= ?2 AND available_at > ?2), 0), "
        "coalesce(sum(dead = 0 AND lease_until <= ?2 AND available_at <= ?2), 0), "
        "min(CASE WHEN dead = 0 THEN enqueued_at END), "
        "min(CASE WHEN dead = 0 AND lease_until <= ?2 AND available_at <= ?2 THEN available_at "
        "END) FROM herald_queue WHERE queue = ?1");
  }
};

}  // namespace herald::detail::sqlite
