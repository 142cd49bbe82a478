// SPDX-License-Identifier: MIT
#pragma once

#include <libpq-fe.h>

#include <cstddef>      // counts
#include <cstdint>      // sequence numbers
#include <optional>     // release one or all
#include <span>         // batches
#include <string>       // SQL, array literals
#include <string_view>  // names
#include <vector>       // results

#include "herald/clock.hpp"
#include "herald/postgres/detail/connection.hpp"
#include "herald/postgres/detail/names.hpp"
#include "herald/postgres/detail/schema.hpp"
#include "herald/postgres/postgres_store.hpp"
#include "herald/store/detail/partition_claims.hpp"
#include "herald/store/outbox_store.hpp"

namespace herald {

namespace detail::postgres {

// The outbox's or inbox's statements on one store (schema version 4). Each
// runs on the connection of a transaction of the store, the caller's or one
// begun here, as text: nothing is prepared on a connection herald may not own.
class outbox_sql {
 public:
  explicit outbox_sql(postgres_store& store)
      : store_(&store),
        schema_(quote_identifier(store.options().schema)),
        who_("postgres store (schema " + store.options().schema + ")") {}

  // Names `sql` (with {s} for the schema) for run().
  const std::string& define(const std::string& name, std::string_view sql) {
    texts_[name] = in_schema(sql, schema_);
    names_.push_back(std::make_unique<std::string>(name));
    return *names_.back();
  }

  connection on(postgres_store::transaction& tx) const {
    return connection(tx.connection(), texts_, who_);
  }

  // Runs `work(connection&)` in a transaction of the store and commits it.
  template <class Work>
  auto in_transaction(Work&& work) {
    auto tx = store_->begin();
    auto c = on(tx);
    if constexpr (std::is_void_v<decltype(work(c))>) {
      work(c);
      tx.commit();
    } else {
      auto result = work(c);
      tx.commit();
      return result;
    }
  }

  void check(const postgres_store::transaction& tx) const { check_transaction(tx, store_, who_); }
  [[nodiscard]] const std::string& schema() const noexcept { return schema_; }

 private:
  postgres_store* store_;
  std::string schema_;
  std::string who_;
  statement_texts texts_;
  std::vector<std::unique_ptr<std::string>> names_;  // stable: steps point at them
};

// '{1,2,3}': an array literal of integers.
template <class Range, class Get>
std::string integer_array(const Range& values, Get get) {
  std::string out = "{";
  for (const auto& v : values) {
    if (out.size() > 1) out += ',';
    out += std::to_string(get(v));
  }
  return out + "}";
}

}  // namespace detail::postgres

/// The outbox on a postgres_store. A stage takes a transaction-scoped
/// advisory lock on its key before its row takes a sequence number, so that
/// two transactions staging one key take turns: per key, seq order is commit
/// order although writers overlap. Relays read unsent rows, never "after the
/// last id seen", so a transaction committing late is read in a later round.
template <>
class outbox_storage<postgres_store> {
  using params = detail::postgres::params;
  using step = detail::postgres::step;

 public:
  using transaction = postgres_store::transaction;

  explicit outbox_storage(postgres_store& store)
      : sql_(store), lock_key_("herald outbox " + store.options().schema + " ") {
    key_lock_ =
        &sql_.define("outbox_key_lock", "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))");
    insert_ = &sql_.define("outbox_insert",
                           "INSERT INTO {s}.outbox (id, destination, key, part, body, staged_at) "
                           "VALUES ($1, $2, $3, $4, $5, $6)");
    serialize_claims_ = &sql_.define(
        "outbox_claims", "LOCK TABLE {s}.outbox_partitions IN SHARE ROW EXCLUSIVE MODE");
    forget_dead_ =
        &sql_.define("outbox_forget", "DELETE FROM {s}.outbox_relays WHERE seen_until <= $1");
    seen_ = &sql_.define("outbox_seen",
                         "INSERT INTO {s}.outbox_relays (owner, seen_until) VALUES ($1, $2) "
                         "ON CONFLICT (owner) DO UPDATE SET seen_until = excluded.seen_until");
    live_ =
        &sql_.define("outbox_live", "SELECT count(*) FROM {s}.outbox_relays WHERE seen_until > $1");
    read_partitions_ = &sql_.define(
        "outbox_partitions", "SELECT part, owner, token, lease_until FROM {s}.outbox_partitions");
    write_partition_ = &sql_.define(
        "outbox_write_partition",
        "INSERT INTO {s}.outbox_partitions (part, owner, token, lease_until) VALUES ($1, $2, $3, "
        "$4) "
        "ON CONFLICT (part) DO UPDATE SET owner = excluded.owner, token = excluded.token, "
        "lease_until = excluded.lease_until");
    leave_ = &sql_.define("outbox_leave",
                          "WITH gone AS (DELETE FROM {s}.outbox_relays WHERE owner = $1) "
                          "UPDATE {s}.outbox_partitions SET owner = '' WHERE owner = $1");
    // The partitions still held with these tokens; a key's message waits
    // while an unsent one of the key before it is parked or backing off.
    pending_ = &sql_.define(
        "outbox_pending",
        "SELECT seq, id, destination, key, part, body, attempts, staged_at FROM {s}.outbox o "
        "WHERE NOT o.sent AND NOT o.parked AND o.not_before <= $2 AND o.part IN ("
        "SELECT p.part FROM {s}.outbox_partitions p JOIN unnest($1::integer[], $4::bigint[]) "
        "AS h(part, token) ON p.part = h.part AND p.token = h.token WHERE p.lease_until > $2) "
        "AND (o.key = '' OR NOT EXISTS (SELECT 1 FROM {s}.outbox k WHERE k.key = o.key "
        "AND k.key <> '' AND NOT k.sent AND k.seq < o.seq AND (k.parked OR k.not_before > $2))) "
        "ORDER BY o.seq LIMIT $3");
    delete_sent_ = &sql_.define(
        "outbox_delete_sent", "DELETE FROM {s}.outbox WHERE seq = ANY($1::bigint[]) AND NOT sent");
    keep_sent_ = &sql_.define("outbox_keep_sent",
                              "UPDATE {s}.outbox SET sent = true, sent_at = $2 WHERE seq = "
                              "ANY($1::bigint[]) AND NOT sent");
    failed_ = &sql_.define(
        "outbox_failed",
        "UPDATE {s}.outbox SET attempts = attempts + 1, last_error = $2, not_before = $3, "
        "parked = (attempts + 1 >= $4), parked_at = CASE WHEN attempts + 1 >= $4 THEN $5::bigint "
        "END "
        "WHERE seq = $1 AND NOT sent RETURNING parked");
    defer_ = &sql_.define("outbox_defer",
                          "UPDATE {s}.outbox SET not_before = GREATEST(not_before, $2) "
                          "WHERE seq = ANY($1::bigint[]) AND NOT sent");
    parked_ = &sql_.define(
        "outbox_parked",
        "SELECT seq, id, destination, key, part, body, attempts, staged_at, last_error, parked_at "
        "FROM {s}.outbox WHERE parked AND NOT sent ORDER BY seq LIMIT $1");
    release_ = &sql_.define("outbox_release",
                            "UPDATE {s}.outbox SET parked = false, attempts = 0, not_before = 0 "
                            "WHERE parked AND NOT sent AND ($1::bigint IS NULL OR seq = $1)");
    prune_ = &sql_.define("outbox_prune",
                          "DELETE FROM {s}.outbox WHERE seq IN (SELECT seq FROM {s}.outbox "
                          "WHERE sent AND sent_at < $1 LIMIT $2)");
    record_partitions_ = &sql_.define("outbox_record_partitions",
                                      "INSERT INTO {s}.outbox_settings (partitions) VALUES ($1) "
                                      "ON CONFLICT (one) DO NOTHING");
    read_partitions_count_ =
        &sql_.define("outbox_read_partitions_count", "SELECT partitions FROM {s}.outbox_settings");
    stats_ = &sql_.define(
        "outbox_stats",
        "SELECT count(*) FILTER (WHERE NOT parked), count(*) FILTER (WHERE parked), "
        "coalesce(min(staged_at) FILTER (WHERE NOT parked), 0) FROM {s}.outbox WHERE NOT sent");
  }

  void stage(transaction& tx, std::span<const outbox_draft> drafts) {
    sql_.check(tx);
    detail::check_stage(drafts);
    std::vector<step> steps;
    for (const auto& d : drafts) {
      if (!d.key.empty()) steps.emplace_back(*key_lock_, params().text(lock_key_ + d.key));
      steps.emplace_back(*insert_, params()
                                       .text(d.id)
                                       .text(d.destination)
                                       .text(d.key)
                                       .integer(d.partition)
                                       .text(d.body)
                                       .time(d.staged_at));
    }
    sql_.on(tx).pipeline(steps, "staging in the outbox");
  }

  std::vector<partition_lease> claim(std::string_view owner, std::uint32_t partitions,
                                     time_point now, duration ttl) {
    return sql_.in_transaction([&](detail::postgres::connection& c) {
      c.pipeline({step(*serialize_claims_, params()), step(*forget_dead_, params().time(now)),
                  step(*seen_, params().text(owner).time(saturating_add(now, ttl)))},
                 "heartbeating");
      const auto live = static_cast<std::size_t>(
          c.run(*live_, params().time(now), "counting relays").integer(0, 0));
      auto plan = detail::plan_claims(partition_rows(c), live, owner, partitions, now, ttl);
      std::vector<step> writes;
      for (const auto& w : plan.writes) {
        writes.emplace_back(
            *write_partition_,
            params().integer(w.partition).text(w.owner).integer(w.token).time(w.until));
      }
      if (!writes.empty()) c.pipeline(writes, "claiming partitions");
      return plan.held;
    });
  }

  void leave(std::string_view owner) {
    sql_.in_transaction([&](detail::postgres::connection& c) {
      c.run(*leave_, params().text(owner), "giving partitions back");
    });
  }

  std::vector<outbox_record> pending(std::span<const partition_lease> held, std::size_t max,
                                     time_point now) {
    return sql_.in_transaction([&](detail::postgres::connection& c) {
      using detail::postgres::integer_array;
      auto r = c.run(*pending_,
                     params()
                         .text(integer_array(held, [](const auto& l) { return l.partition; }))
                         .time(now)
                         .integer(static_cast<std::int64_t>(max))
                         .text(integer_array(held, [](const auto& l) { return l.token; })),
                     "reading the outbox");
      std::vector<outbox_record> out;
      for (int i = 0; i < r.size(); ++i) out.push_back(record_of(r, i));
      return out;
    });
  }

  std::size_t mark_sent(std::span<const std::int64_t> seqs, time_point now, bool keep) {
    const std::string list = detail::postgres::integer_array(seqs, [](auto s) { return s; });
    return sql_.in_transaction([&](detail::postgres::connection& c) {
      auto r = keep ? c.run(*keep_sent_, params().text(list).time(now), "marking sent")
                    : c.run(*delete_sent_, params().text(list), "deleting sent");
      return static_cast<std::size_t>(r.affected());
    });
  }

  void agree_partitions(std::uint32_t partitions) {
    const auto recorded = sql_.in_transaction([&](detail::postgres::connection& c) {
      // Two statements: the second's snapshot sees a row another process
      // committed while the first waited on it.
      c.run(*record_partitions_, params().integer(partitions),
            "recording the outbox's partition count");
      auto r = c.run(*read_partitions_count_, params(), "reading the outbox's partition count");
      return r.size() > 0 ? static_cast<std::uint32_t>(r.integer(0, 0)) : partitions;
    });
    if (recorded != partitions) {
      detail::partitions_disagree(recorded, partitions, "the outbox of schema " + sql_.schema());
    }
  }

  bool failed(const outbox_record& record, std::string_view why, time_point now,
              time_point retry_at, std::uint32_t park_after) {
    return sql_.in_transaction([&](detail::postgres::connection& c) {
      auto r =
          c.run(*failed_,
                params().integer(record.seq).text(why).time(retry_at).integer(park_after).time(now),
                "counting a failed publish");
      return r.size() > 0 && r.text(0, 0) == "t";
    });
  }

  std::size_t defer(std::span<const std::int64_t> seqs, time_point until) {
    const std::string list = detail::postgres::integer_array(seqs, [](auto s) { return s; });
    return sql_.in_transaction([&](detail::postgres::connection& c) {
      auto r = c.run(*defer_, params().text(list).time(until), "deferring unpublished messages");
      return static_cast<std::size_t>(r.affected());
    });
  }

  std::vector<parked_record> parked(std::size_t limit) {
    return sql_.in_transaction([&](detail::postgres::connection& c) {
      auto r = c.run(*parked_, params().integer(static_cast<std::int64_t>(limit)),
                     "listing parked messages");
      std::vector<parked_record> out;
      for (int i = 0; i < r.size(); ++i)
        out.push_back({record_of(r, i), r.text(i, 8), r.time(i, 9)});
      return out;
    });
  }

  std::size_t release(std::optional<std::int64_t> which) {
    return sql_.in_transaction([&](detail::postgres::connection& c) {
      params p;
      if (which) {
        p.integer(*which);
      } else {
        p.null();
      }
      return static_cast<std::size_t>(c.run(*release_, p, "releasing parked messages").affected());
    });
  }

  std::size_t prune_sent(time_point before, std::size_t limit) {
    return sql_.in_transaction([&](detail::postgres::connection& c) {
      return static_cast<std::size_t>(
          c.run(*prune_, params().time(before).integer(static_cast<std::int64_t>(limit)),
                "pruning sent messages")
              .affected());
    });
  }

  outbox_stats stats(time_point now) {
    return sql_.in_transaction([&](detail::postgres::connection& c) {
      auto r = c.run(*stats_, params(), "reading the outbox's stats");
      outbox_stats s;
      s.backlog = static_cast<std::size_t>(r.integer(0, 0));
      s.parked = static_cast<std::size_t>(r.integer(0, 1));
      if (s.backlog > 0) s.oldest_age = std::max(duration{}, now - r.time(0, 2));
      return s;
    });
  }

 private:
  std::vector<detail::partition_row> partition_rows(detail::postgres::connection& c) {
    auto r = c.run(*read_partitions_, params(), "reading partitions");
    std::vector<detail::partition_row> rows;
    for (int i = 0; i < r.size(); ++i) {
      rows.push_back({static_cast<std::uint32_t>(r.integer(i, 0)), r.text(i, 1), r.integer(i, 2),
                      r.time(i, 3)});
    }
    return rows;
  }

  static outbox_record record_of(const detail::postgres::rows& r, int i) {
    return {r.integer(i, 0),
            r.text(i, 1),
            r.text(i, 2),
            r.text(i, 3),
            static_cast<std::uint32_t>(r.integer(i, 4)),
            r.text(i, 5),
            static_cast<std::uint32_t>(r.integer(i, 6)),
            r.time(i, 7)};
  }

  detail::postgres::outbox_sql sql_;
  std::string lock_key_;
  const std::string *key_lock_, *insert_, *serialize_claims_, *forget_dead_, *seen_, *live_,
      *read_partitions_, *write_partition_, *leave_, *pending_, *delete_sent_, *keep_sent_,
      *failed_, *defer_, *parked_, *release_, *prune_, *stats_, *record_partitions_,
      *read_partitions_count_;
};

/// The inbox on a postgres_store: a claim is a unique insert in the caller's
/// transaction; a second claimant of one id waits on the first's row until
/// that transaction ends, then skips (or claims, if it rolled back).
template <>
class inbox_storage<postgres_store> {
  using params = detail::postgres::params;

 public:
  using transaction = postgres_store::transaction;

  explicit inbox_storage(postgres_store& store) : sql_(store) {
    claim_ = &sql_.define("inbox_claim",
                          "INSERT INTO {s}.inbox (consumer, id, claimed_at) VALUES ($1, $2, $3) "
                          "ON CONFLICT DO NOTHING");
    prune_ = &sql_.define("inbox_prune",
                          "DELETE FROM {s}.inbox WHERE ctid IN (SELECT ctid FROM {s}.inbox "
                          "WHERE claimed_at < $1 LIMIT $2)");
    count_ = &sql_.define("inbox_count", "SELECT count(*) FROM {s}.inbox WHERE consumer = $1");
  }

  bool claim(transaction& tx, std::string_view consumer, std::string_view id, time_point now) {
    sql_.check(tx);
    detail::check_claim(consumer, id);
    auto c = sql_.on(tx);
    return c.run(*claim_, params().text(consumer).text(id).time(now), "claiming a message id")
               .affected() == 1;
  }

  std::size_t prune(time_point before, std::size_t limit) {
    return sql_.in_transaction([&](detail::postgres::connection& c) {
      return static_cast<std::size_t>(
          c.run(*prune_, params().time(before).integer(static_cast<std::int64_t>(limit)),
                "pruning inbox ids")
              .affected());
    });
  }

  std::size_t count(std::string_view consumer) {
    return sql_.in_transaction([&](detail::postgres::connection& c) {
      return static_cast<std::size_t>(
          c.run(*count_, params().text(consumer), "counting inbox ids").integer(0, 0));
    });
  }

 private:
  detail::postgres::outbox_sql sql_;
  const std::string *claim_, *prune_, *count_;
};

}  // namespace herald
