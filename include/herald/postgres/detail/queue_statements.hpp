// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>    // groups in order
#include <cstddef>      // counts
#include <cstdint>      // limits
#include <span>         // a worker's batch
#include <string>       // names and SQL
#include <string_view>  // the schema
#include <utility>      // pairs
#include <vector>       // the list

#include "herald/postgres/detail/connection.hpp"
#include "herald/postgres/detail/names.hpp"
#include "herald/postgres/detail/schema.hpp"
#include "herald/store/queue_store.hpp"

namespace herald::detail::postgres {

// The queue store's statements, prepared once on each connection. Every
// statement that settles a message names its lease token, so that a slow
// worker or a reaper can never settle a message that another worker holds.
struct queue_statements {
  // Names of the prepared statements.
  const std::string insert = "herald_insert", lock_group = "herald_lock_group",
                    claim_dedup = "herald_claim_dedup", dedup_id = "herald_dedup_id",
                    prune_dedup = "herald_prune_dedup", lease = "herald_lease", ack = "herald_ack",
                    ack_many = "herald_ack_many", insert_many = "herald_insert_many",
                    extend = "herald_extend", retry = "herald_retry",
                    dead_letter = "herald_dead_letter", dead_letters = "herald_dead_letters",
                    redrive = "herald_redrive", purge = "herald_purge", stats = "herald_stats",
                    notify = "herald_notify", oldest_transaction = "herald_oldest_transaction";

  [[nodiscard]] std::vector<std::pair<std::string, std::string>> sql(std::string_view s) const {
    auto in = [&](std::string_view text) { return in_schema(text, s); };
    return {
        {insert, in("INSERT INTO {s}.queue (queue, id, body, grp, enqueued_at, available_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6)")},
        // A batch as arrays, in one statement; rows get their seqs in send order.
        {insert_many,
         in("INSERT INTO {s}.queue (queue, id, body, grp, enqueued_at, available_at) "
            "SELECT $1, u.id, u.body, u.grp, $2, u.available_at FROM unnest($3::text[], "
            "$4::text[], $5::text[], $6::bigint[]) WITH ORDINALITY AS u(id, body, grp, "
            "available_at, n) ORDER BY u.n")},
        // Sends to one group take turns, so that their order is the order
        // they commit in: a later commit never gets the smaller seq.
        {lock_group, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"},
        // A deduplication id is claimed unless a live claim holds it; two
        // senders at once meet on the unique key and the second waits.
        {claim_dedup,
         in("INSERT INTO {s}.dedup AS d (queue, dedup_id, expires_at, id) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (queue, dedup_id) DO UPDATE "
            "SET expires_at = excluded.expires_at, id = excluded.id WHERE d.expires_at <= $5 "
            "RETURNING 1")},
        {dedup_id, in("SELECT id FROM {s}.dedup WHERE queue = $1 AND dedup_id = $2")},
        {prune_dedup, in("DELETE FROM {s}.dedup WHERE queue = $1 AND expires_at <= $2")},
        // Only the oldest live message of a group may be leased, so a group
        // goes one at a time in order, and a batch never takes two of one.
        // Candidates are the ready ungrouped messages and the head of each
        // group (a loose index scan: one probe per group), never the
        // messages behind a head. Rows another worker is leasing are
        // skipped, not waited for; the oldest of both kinds go first. One
        // token serves the whole batch: it is checked with the seq.
        {lease,
         in("WITH RECURSIVE heads(grp, seq) AS ((SELECT g.grp, g.seq FROM {s}.queue g "
            "WHERE g.queue = $1 AND NOT g.dead AND g.grp <> '' ORDER BY g.grp, g.seq LIMIT 1) "
            "UNION ALL SELECT n.grp, n.seq FROM heads h CROSS JOIN LATERAL (SELECT g.grp, g.seq "
            "FROM {s}.queue g WHERE g.queue = $1 AND NOT g.dead AND g.grp <> '' AND g.grp > h.grp "
            "ORDER BY g.grp, g.seq LIMIT 1) n), "
            "u AS (SELECT m.seq FROM {s}.queue m WHERE m.queue = $1 AND NOT m.dead AND m.grp = '' "
            "AND m.available_at <= $2 AND m.lease_until <= $2 ORDER BY m.seq LIMIT $4 "
            "FOR UPDATE SKIP LOCKED), "
            "hd AS (SELECT m.seq FROM {s}.queue m WHERE m.seq IN (SELECT seq FROM heads) "
            "AND NOT m.dead AND m.available_at <= $2 AND m.lease_until <= $2 ORDER BY m.seq "
            "LIMIT $4 FOR UPDATE SKIP LOCKED), "
            "c AS (SELECT seq FROM (SELECT seq FROM u UNION ALL SELECT seq FROM hd) x "
            "ORDER BY seq LIMIT $4) "
            "UPDATE {s}.queue q SET lease = (SELECT nextval(") +
             // The sequence's name in a literal: quoted twice (detail/names.hpp).
             quote_literal(std::string(s) + ".lease_token") +
             in(")), lease_until = $3, "
                "attempts = q.attempts + 1, first_attempt_at = coalesce(q.first_attempt_at, $2), "
                "last_attempt_at = $2 FROM c WHERE q.seq = c.seq RETURNING q.seq, q.id, q.body, "
                "q.grp, q.attempts, q.enqueued_at, q.first_attempt_at, q.lease_until, q.lease")},
        {ack, in("DELETE FROM {s}.queue WHERE seq = $1 AND lease = $2 AND NOT dead")},
        // A worker's batch: arrays of seqs and their lease tokens, in one
        // statement; the seqs returned are the ones still held.
        {ack_many, in("DELETE FROM {s}.queue q USING unnest($1::bigint[], $2::bigint[]) "
                      "AS a(seq, lease) WHERE q.seq = a.seq AND q.lease = a.lease AND NOT q.dead "
                      "RETURNING q.seq")},
        // Never shorter: see memory_store::extend.
        {extend, in("UPDATE {s}.queue SET lease_until = greatest(lease_until, $3) "
                    "WHERE seq = $1 AND lease = $2 AND NOT dead")},
        {retry, in("UPDATE {s}.queue SET lease = 0, lease_until = 0, available_at = $3, "
                   "last_error = $4 WHERE seq = $1 AND lease = $2 AND NOT dead")},
        {dead_letter, in("UPDATE {s}.queue SET lease = 0, lease_until = 0, dead = true, "
                         "dead_at = $3, last_error = $4 WHERE seq = $1 AND lease = $2 "
                         "AND NOT dead")},
        {dead_letters,
         in("SELECT seq, id, body, grp, last_error, attempts, enqueued_at, first_attempt_at, "
            "last_attempt_at, dead_at FROM {s}.queue WHERE queue = $1 AND dead "
            "ORDER BY seq LIMIT $2")},
        // Back at the end of the queue (and of its group), as if sent now.
        {redrive,
         in("WITH moved AS (DELETE FROM {s}.queue WHERE queue = $1 AND dead "
            "AND ($2::bigint IS NULL OR seq = $2) RETURNING seq, queue, id, body, grp, "
            "enqueued_at) INSERT INTO {s}.queue (queue, id, body, grp, enqueued_at, "
            "available_at) SELECT queue, id, body, grp, enqueued_at, $3 FROM moved ORDER BY seq")},
        {purge, in("DELETE FROM {s}.queue WHERE queue = $1 AND dead")},
        {stats, in("SELECT count(*) FILTER (WHERE dead), "
                   "count(*) FILTER (WHERE NOT dead AND lease_until > $2), "
                   "count(*) FILTER (WHERE NOT dead AND lease_until <= $2 AND available_at > $2), "
                   "count(*) FILTER (WHERE NOT dead AND lease_until <= $2 AND available_at <= $2), "
                   "min(enqueued_at) FILTER (WHERE NOT dead), "
                   "min(available_at) FILTER (WHERE NOT dead AND lease_until <= $2 "
                   "AND available_at <= $2) FROM {s}.queue WHERE queue = $1")},
        // Payload-free: the channel names the queue. It is delivered at
        // commit, and only if the transaction commits.
        {notify, "SELECT pg_notify($1, '')"},
        // In microseconds; prepared transactions hold the horizon too.
        {oldest_transaction,
         "SELECT coalesce((extract(epoch FROM now() - least((SELECT min(xact_start) FROM "
         "pg_stat_activity WHERE datname = current_database() AND (backend_xid IS NOT NULL OR "
         "backend_xmin IS NOT NULL) AND pid <> pg_backend_pid()), (SELECT min(prepared) FROM "
         "pg_prepared_xacts WHERE database = current_database()))) * 1e6)::bigint, 0)"},
    };
  }

  void prepare(connection& c, std::string_view schema) const {
    for (const auto& [name, text] : sql(schema)) c.prepare(name, text);
  }
};

inline params lease_params(std::string_view queue, std::size_t max, time_point now,
                           duration visibility) {
  return params()
      .text(queue)
      .time(now)
      .time(saturating_add(now, visibility))
      .integer(static_cast<std::int64_t>(max));
}

// A draft's claim of its deduplication id, for `window` from `now`.
inline params claim_params(std::string_view queue, const queue_message_draft& d, time_point now,
                           duration window) {
  return params()
      .text(queue)
      .text(d.deduplication_id)
      .time(saturating_add(now, window))
      .text(d.id)
      .time(now);
}

// Sends to a group take turns, so that their order is their commit order:
// each group of a send is locked once, in name order, so that two batches
// never wait for each other.
inline std::vector<step> group_locks(const queue_statements& sql, std::string_view schema,
                                     std::string_view queue,
                                     std::span<const queue_message_draft> drafts) {
  std::vector<std::string_view> groups;
  for (const auto& d : drafts) {
    if (!d.group.empty()) groups.push_back(d.group);
  }
  std::sort(groups.begin(), groups.end());
  groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  std::vector<step> locks;
  for (auto g : groups) {
    std::string key(schema);
    key.append(1, '\x1f').append(queue).append(1, '\x1f').append(g);
    locks.emplace_back(sql.lock_group, params().text(key));
  }
  return locks;
}

// PostgreSQL array literals, built element by element: "{a,b}".
class array_literal {
 public:
  void add(std::int64_t v) { text_ += (text_.empty() ? "{" : ",") + std::to_string(v); }
  // Quoted, with its quotes and backslashes escaped.
  void add(std::string_view v) {
    text_ += text_.empty() ? "{\"" : ",\"";
    for (char c : v) {
      if (c == '"' || c == '\\') text_ += '\\';
      text_ += c;
    }
    text_ += '"';
  }
  [[nodiscard]] bool empty() const noexcept { return text_.empty(); }
  [[nodiscard]] std::string str() const { return text_.empty() ? "{}" : text_ + "}"; }

 private:
  std::string text_;
};

// The drafts of a send, as one insert statement: a single row as plain
// values, a batch as arrays (built only then).
class insert_rows {
 public:
  void add(const queue_message_draft& d) { drafts_.push_back(&d); }
  [[nodiscard]] std::size_t size() const noexcept { return drafts_.size(); }

  [[nodiscard]] step statement(const queue_statements& sql, std::string_view queue,
                               time_point now) const {
    if (drafts_.size() == 1) {
      const auto& d = *drafts_.front();
      return {sql.insert, params().text(queue).text(d.id).text(d.body).text(d.group).time(now).time(
                              d.available_at)};
    }
    array_literal ids, bodies, groups, times;
    for (const auto* d : drafts_) {
      ids.add(d->id);
      bodies.add(d->body);
      groups.add(d->group);
      times.add(nanos(d->available_at));
    }
    return {sql.insert_many, params()
                                 .text(queue)
                                 .time(now)
                                 .text(ids.str())
                                 .text(bodies.str())
                                 .text(groups.str())
                                 .text(times.str())};
  }

 private:
  std::vector<const queue_message_draft*> drafts_;
};

// The parameters of the retry and dead_letter statements for `m`.
inline params settle_params(const leased_message& m, time_point at, std::string_view text) {
  return params().integer(m.seq).integer(m.lease).time(at).text(text);
}

// The steps that settle a worker's batch: its retries and dead letters one
// by one, then its acks in one statement.
inline std::vector<step> settle_steps(const queue_statements& sql,
                                      std::span<const settlement> batch) {
  std::vector<step> steps;
  array_literal seqs, leases;
  for (const auto& s : batch) {
    if (s.what == settlement::ack) {
      seqs.add(s.message.seq);
      leases.add(s.message.lease);
    } else {
      steps.emplace_back(s.what == settlement::retry ? sql.retry : sql.dead_letter,
                         settle_params(s.message, s.at, s.reason));
    }
  }
  if (!seqs.empty()) steps.emplace_back(sql.ack_many, params().text(seqs.str()).text(leases.str()));
  return steps;
}

}  // namespace herald::detail::postgres
