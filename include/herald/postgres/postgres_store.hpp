// SPDX-License-Identifier: MIT
#pragma once

#include <libpq-fe.h>

#include <algorithm>      // leases in send order
#include <atomic>         // counting sends
#include <cstddef>        // counts
#include <cstdint>        // tokens
#include <memory>         // per-thread transaction state
#include <mutex>          // the transaction table
#include <optional>       // redrive one or all
#include <span>           // batches
#include <string>         // text
#include <string_view>    // queue names
#include <thread>         // a transaction belongs to its thread
#include <unordered_map>  // open transactions by thread
#include <utility>        // std::move
#include <vector>         // results

#include "herald/clock.hpp"
#include "herald/error.hpp"
#include "herald/postgres/detail/connection.hpp"
#include "herald/postgres/detail/listener.hpp"
#include "herald/postgres/detail/migrate.hpp"
#include "herald/postgres/detail/names.hpp"
#include "herald/postgres/detail/pool.hpp"
#include "herald/postgres/detail/queue_statements.hpp"
#include "herald/postgres/detail/schema.hpp"
#include "herald/postgres/postgres_options.hpp"
#include "herald/store/queue_store.hpp"

namespace herald {

/// The queue store for many worker processes on many machines: the same
/// queue<T> and worker code as on SQLite, over a PostgreSQL server. Holds a
/// small pool of connections (each with the statements prepared once), and
/// creates and versions its tables in its own schema. Any thread may call
/// any member.
class postgres_store {
 public:
  using queue_store_concept = queue_store_tag;
  static constexpr int schema_version = detail::postgres::schema_version;
  /// A commit waits for the disk: settle and lease together in one.
  static constexpr bool batch_settlements = true;

  /// BEGIN … COMMIT on a connection this transaction holds until it ends;
  /// rolls back unless committed. Belongs to the thread that began it: that
  /// thread's calls on the store join it, and a begin() there nests (a
  /// SAVEPOINT). Other threads' calls run beside it on other connections and
  /// see it once it commits. connection() lets the caller write its own rows in it.
  class transaction {
   public:
    transaction(transaction&& other) noexcept
        : store_(std::exchange(other.store_, nullptr)),
          owner_(other.owner_),
          level_(other.level_) {}
    transaction& operator=(transaction&&) = delete;
    ~transaction() {
      if (store_) store_->end(owner_, level_, false);
    }

    void commit() {
      if (!store_) {
        throw error(errc::invalid_argument,
                    "postgres store: commit() on a transaction that already ended");
      }
      store_->end(owner_, level_, true);
      store_ = nullptr;
    }

    /// The connection the transaction runs on, for the caller's own statements.
    [[nodiscard]] PGconn* connection() const { return store_->open_on(owner_).conn->get(); }
    /// The store that made it.
    [[nodiscard]] const postgres_store* store() const noexcept { return store_; }

   private:
    friend class postgres_store;
    transaction(postgres_store& s, std::thread::id owner, std::size_t level)
        : store_(&s), owner_(owner), level_(level) {}
    postgres_store* store_;
    std::thread::id owner_;
    std::size_t level_;
  };

  /// `conninfo` is a libpq connection string or URI
  /// (`postgresql://user@host:5432/db`). Connects, and creates or migrates
  /// the schema; a schema from a newer herald is refused (errc::schema_too_new).
  explicit postgres_store(std::string conninfo, postgres_options options = {})
      : conninfo_(detail::postgres::with_connect_timeout(conninfo, options.connect_timeout)),
        options_(std::move(options)),
        who_("postgres store (schema '" + options_.schema + "')"),
        schema_(detail::postgres::quote_identifier(options_.schema)),
        pool_(options_.pool_size, [this] { return open(); }) {
    if (options_.schema.empty()) {
      throw error(errc::invalid_argument, "postgres store: the schema name may not be empty");
    }
    migrate();
    if (options_.listen) {
      listener_ = std::make_unique<detail::postgres::listener>(
          detail::postgres::listener::hooks{[this] { return open(); },
                                            [this](const std::string& ch) {
                                              pool_.take()->exec("NOTIFY \"" + ch + "\"",
                                                                 "probing notifications");
                                            },
                                            [this](std::string_view q) { return channel(q); }},
          arrivals_, options_.failures, options_.schema, who_, options_.notification_probe_timeout);
      arrivals_.on_watch([l = listener_.get()] { l->poke(); });
    }
    if (auto* r = options_.metrics) {
      auto oldest = r->gauge("herald_postgres_oldest_transaction_seconds",
                             "Age of the oldest open transaction in the database: it holds back "
                             "the xmin horizon, so deleted queue rows cannot be vacuumed.",
                             {{"schema", options_.schema}});
      collector_ = r->add_collector([this, oldest] {
        try {
          oldest.set(
              static_cast<double>(pool_.take()
                                      ->run(sql_.oldest_transaction, {}, "reading the xmin horizon")
                                      .integer(0, 0)) /
              1e6);
        } catch (const store_error&) {
          // the server is away: the gauge keeps its last value
        }
      });
    }
  }

  ~postgres_store() {
    if (collector_) options_.metrics->remove_collector(*collector_);
    listener_.reset();
  }

  postgres_store(const postgres_store&) = delete;
  postgres_store& operator=(const postgres_store&) = delete;

  [[nodiscard]] transaction begin() {
    const auto me = std::this_thread::get_id();
    // Only this thread touches its own state; the table's lock is never held
    // across the network or a wait for a pooled connection.
    if (open_transaction* mine = find_open(me)) {
      mine->conn->exec("SAVEPOINT herald_" + std::to_string(mine->depth),
                       "starting a nested transaction");
      return transaction(*this, me, mine->depth++);
    }
    auto state = std::make_unique<open_transaction>();
    state->conn = pool_.take();
    state->conn->exec("BEGIN", "starting a transaction");
    state->depth = 1;
    std::lock_guard lock(open_mutex_);
    open_.emplace(me, std::move(state));
    return transaction(*this, me, 0);
  }

  [[nodiscard]] const postgres_options& options() const noexcept { return options_; }

  std::vector<enqueue_result> enqueue(transaction& tx, std::string_view queue,
                                      std::span<const queue_message_draft> drafts, time_point now,
                                      duration dedup_window) {
    detail::check_own_transaction(tx.store_, this, who_);
    open_transaction& t = open_on(tx.owner_);
    auto& c = *t.conn;
    if (++enqueues_ % 256 == 0) {
      c.run(sql_.prune_dedup, detail::postgres::params().text(queue).time(now),
            "pruning deduplication ids");
    }
    std::vector<enqueue_result> results;
    results.reserve(drafts.size());
    // One round trip for a batch; a deduplicated send waits for its claim.
    std::vector<std::pair<const std::string*, detail::postgres::params>> batch;
    auto flush = [&] {
      if (!batch.empty()) c.pipeline(batch, "sending");
      batch.clear();
    };
    for (const auto& d : drafts) {
      if (!d.group.empty()) {
        batch.emplace_back(&sql_.lock_group,
                           detail::postgres::params().text(options_.schema + '\x1f' +
                                                           std::string(queue) + '\x1f' + d.group));
      }
      if (!d.deduplication_id.empty()) {
        flush();
        auto claimed = c.run(sql_.claim_dedup,
                             detail::postgres::params()
                                 .text(queue)
                                 .text(d.deduplication_id)
                                 .time(saturating_add(now, dedup_window))
                                 .text(d.id)
                                 .time(now),
                             "claiming a deduplication id");
        if (claimed.size() == 0) {
          auto original =
              c.run(sql_.dedup_id, detail::postgres::params().text(queue).text(d.deduplication_id),
                    "reading a deduplicated message's id");
          results.push_back({original.size() > 0 ? original.text(0, 0) : d.id, true});
          continue;
        }
      }
      batch.emplace_back(&sql_.insert, detail::postgres::params()
                                           .text(queue)
                                           .text(d.id)
                                           .text(d.body)
                                           .text(d.group)
                                           .time(now)
                                           .time(d.available_at));
      results.push_back({d.id, false});
    }
    const std::string q(queue);
    if (std::find(t.touched.begin(), t.touched.end(), q) == t.touched.end()) {
      // One NOTIFY per queue per transaction: each takes a lock at commit.
      batch.emplace_back(&sql_.notify, detail::postgres::params().text(channel(queue)));
      t.touched.push_back(q);
    }
    flush();
    return results;
  }

  /// Wakes this process's idle workers of a queue when a send to it commits,
  /// here or (through LISTEN) in another process.
  [[nodiscard]] arrival_signal& arrivals() noexcept { return arrivals_; }

  std::vector<leased_message> lease(std::string_view queue, std::size_t max, time_point now,
                                    duration visibility) {
    auto r = on_connection([&](detail::postgres::connection& c) {
      return c.run(sql_.lease,
                   detail::postgres::params()
                       .text(queue)
                       .time(now)
                       .time(saturating_add(now, visibility))
                       .integer(static_cast<std::int64_t>(max)),
                   "leasing");
    });
    std::vector<leased_message> out;
    out.reserve(static_cast<std::size_t>(r.size()));
    for (int i = 0; i < r.size(); ++i) {
      out.push_back({r.integer(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3),
                     static_cast<std::uint32_t>(r.integer(i, 4)), r.time(i, 5), r.time(i, 6),
                     r.time(i, 7), r.integer(i, 8)});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
    return out;
  }

  bool ack(std::string_view, const leased_message& m) {
    return changed(sql_.ack, detail::postgres::params().integer(m.seq).integer(m.lease), "acking");
  }

  bool extend(std::string_view, const leased_message& m, time_point until) {
    return changed(sql_.extend,
                   detail::postgres::params().integer(m.seq).integer(m.lease).time(until),
                   "extending a lease");
  }

  bool retry(std::string_view, const leased_message& m, time_point available_at,
             std::string_view error) {
    return changed(
        sql_.retry,
        detail::postgres::params().integer(m.seq).integer(m.lease).time(available_at).text(error),
        "scheduling a retry");
  }

  bool dead_letter(std::string_view, const leased_message& m, std::string_view reason,
                   time_point now) {
    return changed(
        sql_.dead_letter,
        detail::postgres::params().integer(m.seq).integer(m.lease).time(now).text(reason),
        "dead-lettering");
  }

  std::vector<dead_lettered_message> dead_letters(std::string_view queue, std::size_t limit) {
    auto r = on_connection([&](detail::postgres::connection& c) {
      return c.run(sql_.dead_letters,
                   detail::postgres::params().text(queue).integer(static_cast<std::int64_t>(limit)),
                   "reading dead letters");
    });
    std::vector<dead_lettered_message> out;
    for (int i = 0; i < r.size(); ++i) {
      out.push_back({r.integer(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4),
                     static_cast<std::uint32_t>(r.integer(i, 5)), r.time(i, 6), r.time(i, 7),
                     r.time(i, 8), r.time(i, 9)});
    }
    return out;
  }

  std::size_t redrive(std::string_view queue, std::optional<std::int64_t> which, time_point now) {
    detail::postgres::params p;
    p.text(queue);
    (void)(which ? p.integer(*which) : p.null());
    p.time(now);
    auto tx = begin();
    auto moved = open_on(tx.owner_).conn->run(sql_.redrive, p, "redriving").affected();
    if (moved > 0) notify_in(tx, queue);
    tx.commit();
    return static_cast<std::size_t>(moved);
  }

  std::size_t purge_dead_letters(std::string_view queue) {
    return static_cast<std::size_t>(on_connection([&](detail::postgres::connection& c) {
      return c.run(sql_.purge, detail::postgres::params().text(queue), "purging dead letters")
          .affected();
    }));
  }

  queue_stats stats(std::string_view queue, time_point now) {
    auto r = on_connection([&](detail::postgres::connection& c) {
      return c.run(sql_.stats, detail::postgres::params().text(queue).time(now), "reading stats");
    });
    queue_stats s;
    if (r.size() == 1) {
      s.dead_lettered = static_cast<std::size_t>(r.integer(0, 0));
      s.in_flight = static_cast<std::size_t>(r.integer(0, 1));
      s.delayed = static_cast<std::size_t>(r.integer(0, 2));
      s.depth = static_cast<std::size_t>(r.integer(0, 3));
      if (!r.null(0, 4)) s.oldest_age = now - r.time(0, 4);
      if (!r.null(0, 5)) s.lag = now - r.time(0, 5);
    }
    return s;
  }

  /// The NOTIFY channel of a queue: payload-free, one per queue and schema.
  [[nodiscard]] std::string channel(std::string_view queue) const {
    return detail::postgres::channel_name(options_.schema, queue);
  }

 private:
  struct open_transaction {
    detail::postgres::pool::lease conn;
    std::size_t depth = 0;
    std::vector<std::string> touched;  // queues sent to: NOTIFY sent, wake at commit
  };

  std::unique_ptr<detail::postgres::connection> open() {
    auto c = std::make_unique<detail::postgres::connection>(conninfo_, who_);
    c->exec("SET statement_timeout = " + std::to_string(options_.statement_timeout.count()) +
                "; SET lock_timeout = " + std::to_string(options_.lock_timeout.count()) +
                "; SET client_min_messages = warning; SET application_name = " +
                detail::postgres::quote_literal(options_.application_name),
            "configuring the connection");
    if (migrated_) sql_.prepare(*c, schema_);
    return c;
  }

  // The open transaction of `owner`; it must exist.
  open_transaction& open_on(std::thread::id owner) {
    if (open_transaction* t = find_open(owner)) return *t;
    throw error(errc::invalid_argument,
                who_ +
                    ": the transaction has already ended, or is used from a thread other "
                    "than the one that began it");
  }

  // Runs `work` on this thread's open transaction if it has one (joining
  // it), else on a pooled connection as a statement of its own.
  template <class Work>
  auto on_connection(Work&& work) -> decltype(work(std::declval<detail::postgres::connection&>())) {
    if (open_transaction* mine = find_open(std::this_thread::get_id())) return work(*mine->conn);
    auto c = pool_.take();
    return work(*c);
  }

  bool changed(const std::string& statement, const detail::postgres::params& p,
               std::string_view doing) {
    return on_connection([&](detail::postgres::connection& c) {
             return c.run(statement, p, doing).affected();
           }) == 1;
  }

  void notify_in(transaction& tx, std::string_view queue) {
    auto& t = open_on(tx.owner_);
    const std::string q(queue);
    if (std::find(t.touched.begin(), t.touched.end(), q) != t.touched.end()) return;
    t.conn->run(sql_.notify, detail::postgres::params().text(channel(queue)), "notifying");
    t.touched.push_back(q);
  }

  // Ends `owner`'s transaction at `level` and those begun inside it. A
  // failed COMMIT leaves it open, so that the destructor rolls it back.
  void end(std::thread::id owner, std::size_t level, bool commit) {
    open_transaction* t = find_open(owner);
    if (!t || level >= t->depth) return;  // an outer one ended it
    const std::string savepoint = "herald_" + std::to_string(level);
    if (level > 0) {
      if (commit) {
        t->conn->exec("RELEASE " + savepoint, "committing a nested transaction");
      } else {
        try {
          t->conn->exec("ROLLBACK TO " + savepoint + "; RELEASE " + savepoint,
                        "rolling back a nested transaction");
        } catch (const store_error&) {
          // The connection broke: the outer transaction cannot commit either.
        }
      }
      t->depth = level;
      return;
    }
    if (commit) t->conn->exec("COMMIT", "committing");
    if (!commit) {
      try {
        t->conn->exec("ROLLBACK", "rolling back");
      } catch (const store_error&) {
        // A broken connection rolled it back; the pool closes it.
      }
    }
    std::unique_ptr<open_transaction> state;
    {
      std::lock_guard lock(open_mutex_);
      auto it = open_.find(owner);
      state = std::move(it->second);
      open_.erase(it);
    }
    if (commit) {
      for (const auto& q : state->touched) arrivals_.notify(q);
    }
  }

  open_transaction* find_open(std::thread::id owner) {
    std::lock_guard lock(open_mutex_);
    auto it = open_.find(owner);
    return it == open_.end() ? nullptr : it->second.get();
  }

  // Creates or migrates the schema (detail/migrate.hpp), then prepares the
  // statements on the connection it used.
  void migrate() {
    auto c = pool_.take();
    detail::postgres::migrate(*c, options_.schema, schema_, who_);
    sql_.prepare(*c, schema_);
    migrated_ = true;
  }

  std::string conninfo_;
  postgres_options options_;
  std::string who_;
  std::string schema_;  // quoted
  detail::postgres::queue_statements sql_;
  bool migrated_ = false;  // set once, before the store is shared
  detail::postgres::pool pool_;
  std::mutex open_mutex_;  // open_ holds pooled connections: it goes first
  std::unordered_map<std::thread::id, std::unique_ptr<open_transaction>> open_;
  std::atomic<std::uint64_t> enqueues_{0};
  arrival_signal arrivals_;
  std::optional<std::uint64_t> collector_;
  std::unique_ptr<detail::postgres::listener> listener_;  // uses all of the above
};

static_assert(queue_store<postgres_store>);

}  // namespace herald
