// SPDX-License-Identifier: MIT
#pragma once

#include <sqlite3.h>

#include <cstddef>      // counts
#include <cstdint>      // sequence numbers
#include <optional>     // release one or all
#include <span>         // batches
#include <string>       // the partition list
#include <string_view>  // names
#include <type_traits>  // what a transaction's work returns
#include <vector>       // results

#include "herald/clock.hpp"
#include "herald/sqlite/detail/statement.hpp"
#include "herald/sqlite/sqlite_store.hpp"
#include "herald/store/detail/partition_claims.hpp"
#include "herald/store/outbox_store.hpp"

namespace herald {

namespace detail::sqlite {

// Statements of the outbox or inbox on one store's connection; each runs
// under the store's lock (the caller's transaction, or one begun here).
class statements_on {
 public:
  explicit statements_on(sqlite_store& store) : store_(&store) {}

  statement prepare(std::string_view sql) const { return statement(store_->connection(), sql); }
  run use(const statement& s) const {
    return run(s, store_->path(), store_->options().busy_timeout);
  }
  // Runs `work` in a transaction of the store and commits it.
  template <class Work>
  auto in_transaction(Work&& work) {
    auto tx = store_->begin();
    if constexpr (std::is_void_v<decltype(work())>) {
      work();
      tx.commit();
    } else {
      auto result = work();
      tx.commit();
      return result;
    }
  }
  void check(const sqlite_store::transaction& tx) const {
    check_transaction(tx, store_, "sqlite store '" + store_->path() + "'");
  }
  std::size_t changes() const {
    return static_cast<std::size_t>(sqlite3_changes(store_->connection()));
  }

 private:
  sqlite_store* store_;
};

}  // namespace detail::sqlite

/// The outbox on a sqlite_store (schema version 3): staged messages commit
/// with the rows the caller writes through `tx.connection()`. SQLite takes
/// one writer at a time, so seq order is commit order. Destroy it before the store.
template <>
class outbox_storage<sqlite_store> {
  using statement = detail::sqlite::statement;

 public:
  using transaction = sqlite_store::transaction;

  explicit outbox_storage(sqlite_store& store) : db_(store) {
    insert_ = db_.prepare(
        "INSERT INTO herald_outbox (id, destination, key, part, body, staged_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    read_partitions_ =
        db_.prepare("SELECT part, owner, token, lease_until FROM herald_outbox_partitions");
    seen_ = db_.prepare(
        "INSERT INTO herald_outbox_relays (owner, seen_until) VALUES (?1, ?2) "
        "ON CONFLICT (owner) DO UPDATE SET seen_until = excluded.seen_until");
    live_ = db_.prepare("SELECT count(*) FROM herald_outbox_relays WHERE seen_until > ?1");
    forget_dead_ = db_.prepare("DELETE FROM herald_outbox_relays WHERE seen_until <= ?1");
    write_partition_ = db_.prepare(
        "INSERT INTO herald_outbox_partitions (part, owner, token, lease_until) "
        "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (part) DO UPDATE SET owner = excluded.owner, "
        "token = excluded.token, lease_until = excluded.lease_until");
    leave_relays_ = db_.prepare("DELETE FROM herald_outbox_relays WHERE owner = ?1");
    leave_partitions_ =
        db_.prepare("UPDATE herald_outbox_partitions SET owner = '' WHERE owner = ?1");
    // A key's message waits while an unsent one of the key before it is
    // parked or backing off: order per key, and blocking only that key.
    // (The indexes are named: the planner would otherwise walk every row,
    // sent ones kept for retention included, in seq order.)
    pending_ = db_.prepare(
        "SELECT seq, id, destination, key, part, body, attempts, staged_at FROM herald_outbox o "
        "INDEXED BY herald_outbox_pending WHERE o.sent = 0 AND o.parked = 0 "
        "AND o.not_before <= ?2 AND o.part IN (SELECT value FROM json_each(?1)) "
        "AND (o.key = '' OR NOT EXISTS (SELECT 1 FROM herald_outbox h "
        "INDEXED BY herald_outbox_keys WHERE h.key = o.key AND h.key <> '' AND h.sent = 0 "
        "AND h.seq < o.seq AND (h.parked = 1 OR h.not_before > ?2))) "
        "ORDER BY o.seq LIMIT ?3");
    delete_sent_ = db_.prepare("DELETE FROM herald_outbox WHERE seq = ?1 AND sent = 0");
    keep_sent_ =
        db_.prepare("UPDATE herald_outbox SET sent = 1, sent_at = ?2 WHERE seq = ?1 AND sent = 0");
    failed_ = db_.prepare(
        "UPDATE herald_outbox SET attempts = attempts + 1, last_error = ?2, not_before = ?3, "
        "parked = (attempts + 1 >= ?4), parked_at = CASE WHEN attempts + 1 >= ?4 THEN ?5 END "
        "WHERE seq = ?1 AND sent = 0 RETURNING parked");
    defer_ = db_.prepare(
        "UPDATE herald_outbox SET not_before = max(not_before, ?2) WHERE seq = ?1 AND sent = 0");
    parked_ = db_.prepare(
        "SELECT seq, id, destination, key, part, body, attempts, staged_at, last_error, parked_at "
        "FROM herald_outbox WHERE parked = 1 AND sent = 0 ORDER BY seq LIMIT ?1");
    release_ = db_.prepare(
        "UPDATE herald_outbox SET parked = 0, attempts = 0, not_before = 0 "
        "WHERE parked = 1 AND sent = 0 AND (?1 IS NULL OR seq = ?1)");
    prune_ = db_.prepare(
        "DELETE FROM herald_outbox WHERE seq IN (SELECT seq FROM herald_outbox "
        "WHERE sent = 1 AND sent_at < ?1 LIMIT ?2)");
    record_partitions_ = db_.prepare(
        "INSERT INTO herald_outbox_settings (one, partitions) VALUES (1, ?1) "
        "ON CONFLICT (one) DO NOTHING");
    read_settings_ = db_.prepare("SELECT partitions FROM herald_outbox_settings");
    stats_ = db_.prepare(
        "SELECT coalesce(sum(parked = 0), 0), coalesce(sum(parked = 1), 0), "
        "min(CASE WHEN parked = 0 THEN staged_at END) FROM herald_outbox WHERE sent = 0");
  }

  void stage(transaction& tx, std::span<const outbox_draft> drafts) {
    db_.check(tx);
    detail::check_stage(drafts);
    for (const auto& d : drafts) {
      auto r = db_.use(insert_);
      r.bind(1, d.id)
          .bind(2, d.destination)
          .bind(3, d.key)
          .bind(4, static_cast<std::int64_t>(d.partition))
          .bind(5, d.body)
          .bind(6, d.staged_at);
      r.step();
    }
  }

  std::vector<partition_lease> claim(std::string_view owner, std::uint32_t partitions,
                                     time_point now, duration ttl) {
    return db_.in_transaction([&] {
      db_.use(forget_dead_).bind(1, now).step();
      db_.use(seen_).bind(1, owner).bind(2, saturating_add(now, ttl)).step();
      std::size_t live = 0;
      {
        auto r = db_.use(live_);
        r.bind(1, now);
        if (r.step()) live = static_cast<std::size_t>(r.integer(0));
      }
      auto plan = detail::plan_claims(partition_rows(), live, owner, partitions, now, ttl);
      for (const auto& w : plan.writes) {
        db_.use(write_partition_)
            .bind(1, static_cast<std::int64_t>(w.partition))
            .bind(2, w.owner)
            .bind(3, w.token)
            .bind(4, w.until)
            .step();
      }
      return plan.held;
    });
  }

  void agree_partitions(std::uint32_t partitions) {
    const auto recorded = db_.in_transaction([&] {
      db_.use(record_partitions_).bind(1, static_cast<std::int64_t>(partitions)).step();
      auto r = db_.use(read_settings_);
      return r.step() ? static_cast<std::uint32_t>(r.integer(0)) : partitions;
    });
    if (recorded != partitions) {
      detail::partitions_disagree(recorded, partitions, "this SQLite file's outbox");
    }
  }

  void leave(std::string_view owner) {
    db_.in_transaction([&] {
      db_.use(leave_relays_).bind(1, owner).step();
      db_.use(leave_partitions_).bind(1, owner).step();
    });
  }

  std::vector<outbox_record> pending(std::span<const partition_lease> held, std::size_t max,
                                     time_point now) {
    return db_.in_transaction([&] {
      std::string list = "[";
      for (const auto& row : partition_rows()) {
        for (const auto& l : held) {
          if (l.partition != row.partition || l.token != row.token || row.until <= now) continue;
          if (list.size() > 1) list += ',';
          list += std::to_string(row.partition);
        }
      }
      list += ']';
      std::vector<outbox_record> out;
      auto r = db_.use(pending_);
      r.bind(1, list).bind(2, now).bind(3, static_cast<std::int64_t>(max));
      while (r.step()) out.push_back(record_of(r));
      return out;
    });
  }

  std::size_t mark_sent(std::span<const std::int64_t> seqs, time_point now, bool keep) {
    return db_.in_transaction([&] {
      std::size_t n = 0;
      for (const auto seq : seqs) {
        auto r = db_.use(keep ? keep_sent_ : delete_sent_);
        r.bind(1, seq);
        if (keep) r.bind(2, now);
        r.step();
        n += db_.changes();
      }
      return n;
    });
  }

  bool failed(const outbox_record& record, std::string_view why, time_point now,
              time_point retry_at, std::uint32_t park_after) {
    return db_.in_transaction([&] {
      auto r = db_.use(failed_);
      r.bind(1, record.seq)
          .bind(2, why)
          .bind(3, retry_at)
          .bind(4, static_cast<std::int64_t>(park_after))
          .bind(5, now);
      return r.step() && r.integer(0) != 0;
    });
  }

  std::size_t defer(std::span<const std::int64_t> seqs, time_point until) {
    return db_.in_transaction([&] {
      std::size_t n = 0;
      for (const auto seq : seqs) {
        db_.use(defer_).bind(1, seq).bind(2, until).step();
        n += db_.changes();
      }
      return n;
    });
  }

  std::vector<parked_record> parked(std::size_t limit) {
    return db_.in_transaction([&] {
      std::vector<parked_record> out;
      auto r = db_.use(parked_);
      r.bind(1, static_cast<std::int64_t>(limit));
      while (r.step()) out.push_back({record_of(r), r.text(8), r.time(9)});
      return out;
    });
  }

  std::size_t release(std::optional<std::int64_t> which) {
    return db_.in_transaction([&] {
      auto r = db_.use(release_);
      if (which) r.bind(1, *which);
      r.step();
      return db_.changes();
    });
  }

  std::size_t prune_sent(time_point before, std::size_t limit) {
    return db_.in_transaction([&] {
      db_.use(prune_).bind(1, before).bind(2, static_cast<std::int64_t>(limit)).step();
      return db_.changes();
    });
  }

  outbox_stats stats(time_point now) {
    return db_.in_transaction([&] {
      outbox_stats s;
      auto r = db_.use(stats_);
      if (r.step()) {
        s.backlog = static_cast<std::size_t>(r.integer(0));
        s.parked = static_cast<std::size_t>(r.integer(1));
        if (s.backlog > 0) s.oldest_age = std::max(duration{}, now - r.time(2));
      }
      return s;
    });
  }

 private:
  std::vector<detail::partition_row> partition_rows() {
    std::vector<detail::partition_row> rows;
    auto r = db_.use(read_partitions_);
    while (r.step()) {
      rows.push_back(
          {static_cast<std::uint32_t>(r.integer(0)), r.text(1), r.integer(2), r.time(3)});
    }
    return rows;
  }

  static outbox_record record_of(const detail::sqlite::run& r) {
    return {r.integer(0),
            r.text(1),
            r.text(2),
            r.text(3),
            static_cast<std::uint32_t>(r.integer(4)),
            r.text(5),
            static_cast<std::uint32_t>(r.integer(6)),
            r.time(7)};
  }

  detail::sqlite::statements_on db_;
  statement insert_, read_partitions_, seen_, live_, forget_dead_, write_partition_, leave_relays_,
      leave_partitions_, pending_, delete_sent_, keep_sent_, failed_, defer_, parked_, release_,
      prune_, stats_, record_partitions_, read_settings_;
};

/// The inbox on a sqlite_store: a claim is a unique insert in the caller's
/// transaction; BEGIN IMMEDIATE makes a second claimant wait for the first.
template <>
class inbox_storage<sqlite_store> {
 public:
  using transaction = sqlite_store::transaction;

  explicit inbox_storage(sqlite_store& store) : db_(store) {
    claim_ = db_.prepare(
        "INSERT INTO herald_inbox (consumer, id, claimed_at) VALUES (?1, ?2, ?3) "
        "ON CONFLICT DO NOTHING");
    prune_ = db_.prepare(
        "DELETE FROM herald_inbox WHERE (consumer, id) IN (SELECT consumer, id FROM "
        "herald_inbox WHERE claimed_at < ?1 LIMIT ?2)");
    count_ = db_.prepare("SELECT count(*) FROM herald_inbox WHERE consumer = ?1");
  }

  bool claim(transaction& tx, std::string_view consumer, std::string_view id, time_point now) {
    db_.check(tx);
    detail::check_claim(consumer, id);
    db_.use(claim_).bind(1, consumer).bind(2, id).bind(3, now).step();
    return db_.changes() == 1;
  }

  std::size_t prune(time_point before, std::size_t limit) {
    return db_.in_transaction([&] {
      db_.use(prune_).bind(1, before).bind(2, static_cast<std::int64_t>(limit)).step();
      return db_.changes();
    });
  }

  std::size_t count(std::string_view consumer) {
    return db_.in_transaction([&] {
      auto r = db_.use(count_);
      r.bind(1, consumer);
      return r.step() ? static_cast<std::size_t>(r.integer(0)) : 0;
    });
  }

 private:
  detail::sqlite::statements_on db_;
  detail::sqlite::statement claim_, prune_, count_;
};

}  // namespace herald
