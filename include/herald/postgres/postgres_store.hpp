// SPDX-License-Identifier: MIT
#pragma once

#include <libpq-fe.h>

#include <algorithm>    // queues touched
#include <atomic>       // counting sends
#include <cstddef>      // counts
#include <cstdint>      // tokens
#include <memory>       // per-thread transaction state
#include <optional>     // redrive one or all
#include <span>         // batches
#include <string>       // text
#include <string_view>  // queue names
#include <thread>       // a transaction belongs to its thread
#include <utility>      // std::move
#include <vector>       // results

#include "herald/clock.hpp"
#include "herald/error.hpp"
#include "herald/postgres/detail/connection.hpp"
#include "herald/postgres/detail/listener.hpp"
#include "herald/postgres/detail/migrate.hpp"
#include "herald/postgres/detail/names.hpp"
#include "herald/postgres/detail/notifier.hpp"
#include "herald/postgres/detail/oldest_transaction.hpp"
#include "herald/postgres/detail/open_transaction.hpp"
#include "herald/postgres/detail/pool.hpp"
#include "herald/postgres/detail/queue_rows.hpp"
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

  /// BEGIN … COMMIT on a connection this transaction holds until it ends;
  /// rolls back unless committed. Belongs to the thread that began it: that
  /// thread's calls on the store join it, and a begin() there nests (a
  /// SAVEPOINT); used from another thread it throws errc::invalid_argument
  /// (docs/postgres.md). Other threads' calls run beside it on other connections and
  /// see it once it commits. connection() lets the caller write its own rows
  /// in it. Sends go to the server with the next statement that needs an
  /// answer, or with the COMMIT (one round trip for a send), so a failure
  /// may surface at commit(): it then throws, and nothing was written.
  class transaction {
   public:
    transaction(transaction&& other) noexcept
        : store_(std::exchange(other.store_, nullptr)),
          state_(std::move(other.state_)),
          owner_(other.owner_),
          level_(other.level_) {}
    transaction& operator=(transaction&&) = delete;
    /// On another thread it cannot touch the connection, which its own thread
    /// may be using: it marks the transaction abandoned, and that thread's
    /// next call on the store rolls it back (begin() then starts a new one).
    ~transaction() {
      if (!store_) return;
      if (owner_ == std::this_thread::get_id()) {
        store_->end(*state_, owner_, level_, false);
      } else {
        state_->abandoned = true;
      }
    }

    /// Throws errc::invalid_argument on another thread, or when the
    /// transaction it was nested in rolled back: never returns for work that
    /// did not commit.
    void commit() {
      if (!store_) {
        throw error(errc::invalid_argument,
                    "postgres store: commit() on a transaction that already ended");
      }
      detail::check_thread(owner_, store_->who_);
      store_->end(*state_, owner_, level_, true);
      store_ = nullptr;
    }

    /// The connection the transaction runs on, for the caller's own
    /// statements; herald's pending statements are sent first.
    [[nodiscard]] PGconn* connection() const {
      if (!store_) {
        throw error(errc::invalid_argument, "postgres store: the transaction has already ended");
      }
      detail::check_thread(owner_, store_->who_);
      auto& t = store_->open_on(*state_, owner_);
      t.send({}, "sending");
      return t.conn->get();
    }
    /// The store that made it.
    [[nodiscard]] const postgres_store* store() const noexcept { return store_; }
    /// The thread that began it, the only one that may use and end it.
    [[nodiscard]] std::thread::id thread() const noexcept { return owner_; }

   private:
    friend class postgres_store;
    transaction(postgres_store& s, std::shared_ptr<detail::postgres::open_transaction> state,
                std::thread::id owner, std::size_t level)
        : store_(&s), state_(std::move(state)), owner_(owner), level_(level) {}
    postgres_store* store_;
    // Outlives the table's entry, to tell how the transaction ended.
    std::shared_ptr<detail::postgres::open_transaction> state_;
    std::thread::id owner_;
    std::size_t level_;
  };

  /// `conninfo` is a libpq connection string or URI
  /// (`postgresql://user@host:5432/db`). Connects, and creates or migrates
  /// the schema; a schema from a newer herald is refused (errc::schema_too_new).
  /// The schema's name is UTF-8 of 1 to 63 bytes without NUL (PostgreSQL
  /// would cut a longer one short): any other is refused (errc::invalid_argument).
  explicit postgres_store(std::string conninfo, postgres_options options = {})
      : conninfo_(detail::postgres::with_connect_timeout(conninfo, options.connect_timeout)),
        options_(std::move(options)),
        who_("postgres store (schema '" + options_.schema + "')"),
        schema_((detail::postgres::check_schema_name(options_.schema),
                 detail::postgres::quote_identifier(options_.schema))),
        pool_(options_.pool_size, [this] { return open(); }) {
    migrate();
    if (options_.listen) {
      listener_ = std::make_unique<detail::postgres::listener>(
          detail::postgres::listener::hooks{
              [this] { return open(); },
              [this](const std::string& ch) {
                pool_.take()->exec("NOTIFY " + detail::postgres::quote_identifier(ch),
                                   "probing notifications");
              },
              [this](std::string_view q) { return channel(q); }},
          arrivals_, options_.failures, options_.schema, who_, options_.notification_probe_timeout);
      arrivals_.on_watch([l = listener_.get()] { l->poke(); });
    }
    if (auto* r = options_.metrics) {
      collector_ = detail::postgres::export_oldest_transaction(*r, options_.schema, [this] {
        return pool_.take()
            ->run(sql_.oldest_transaction, {}, "reading the xmin horizon")
            .integer(0, 0);
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
    if (auto mine = joined(me)) return nest(mine, me);
    auto state = std::make_shared<open_transaction>();
    state->pooled = pool_.take();
    state->conn = &*state->pooled;
    return start(me, std::move(state));
  }

  /// A transaction on your own connection, so that herald's writes commit or
  /// roll back with your rows. On an idle connection it BEGINs and commit()
  /// COMMITs; inside a transaction of yours it is a savepoint, commit()
  /// releases it and your COMMIT makes it durable. herald sends its
  /// statements there as text, prepares nothing and changes no setting of
  /// your session (its timeouts are yours). `yours` must stay open until the transaction ends; it
  /// belongs to this thread as begin()'s does.
  [[nodiscard]] transaction begin(PGconn* yours) {
    const auto me = std::this_thread::get_id();
    if (auto mine = joined(me)) {
      if (mine->conn->get() == yours) return nest(mine, me);
      throw error(errc::invalid_argument,
                  who_ +
                      ": this thread has a transaction open on another connection; end it "
                      "first, or write your rows through its connection()");
    }
    const auto status = yours ? PQtransactionStatus(yours) : PQTRANS_UNKNOWN;
    if (!yours || PQstatus(yours) != CONNECTION_OK ||
        (status != PQTRANS_IDLE && status != PQTRANS_INTRANS)) {
      throw error(errc::invalid_argument,
                  who_ +
                      ": begin(PGconn*) needs an open connection that is idle or inside a "
                      "transaction (not busy with a query, nor in a failed transaction: roll "
                      "that back first)");
    }
    auto state = std::make_shared<open_transaction>();
    state->borrowed = std::make_unique<detail::postgres::connection>(yours, texts_, who_);
    state->conn = state->borrowed.get();
    state->inside_yours = status == PQTRANS_INTRANS;
    auto tx = start(me, std::move(state));
    tx.state_->send({}, "starting a transaction");  // now: you write on it directly
    return tx;
  }

  [[nodiscard]] const postgres_options& options() const noexcept { return options_; }

  std::vector<enqueue_result> enqueue(transaction& tx, std::string_view queue,
                                      std::span<const queue_message_draft> drafts, time_point now,
                                      duration window) {
    detail::check_transaction(tx, this, who_);
    detail::check_send(queue, drafts);
    open_transaction& t = open_on(*tx.state_, tx.owner_);
    if (++enqueues_ % 256 == 0) {
      t.pending.emplace_back(sql_.prune_dedup, params().text(queue).time(now));
    }
    std::vector<enqueue_result> results;
    // Sent with the next statement that needs an answer (a deduplication
    // claim), or the COMMIT.
    for (auto& lock : detail::postgres::group_locks(sql_, options_.schema, queue, drafts)) {
      t.pending.push_back(std::move(lock));
    }
    detail::postgres::insert_rows rows;
    for (const auto& d : drafts) {
      if (!d.deduplication_id.empty()) {
        auto claimed =
            t.run(sql_.claim_dedup, detail::postgres::claim_params(queue, d, now, window),
                  "claiming a deduplication id");
        if (claimed.size() == 0) {
          auto original = t.run(sql_.dedup_id, params().text(queue).text(d.deduplication_id),
                                "reading a deduplicated message's id");
          results.push_back({original.size() > 0 ? original.text(0, 0) : d.id, true});
          continue;
        }
      }
      rows.add(d);
      results.push_back({d.id, false});
    }
    if (rows.size() > 0) t.pending.push_back(rows.statement(sql_, queue, now));
    notify_in(t, queue);
    return results;
  }

  /// Wakes this process's idle workers of a queue when a send to it commits,
  /// here or (through LISTEN) in another process.
  [[nodiscard]] arrival_signal& arrivals() noexcept { return arrivals_; }

  std::vector<leased_message> lease(std::string_view queue, std::size_t max, time_point now,
                                    duration visibility) {
    return detail::postgres::leased_rows(on_connection([&](detail::postgres::connection& c) {
      return c.run(sql_.lease, detail::postgres::lease_params(queue, max, now, visibility),
                   "leasing");
    }));
  }

  /// A worker's settlements and its next lease, in one transaction and one
  /// round trip: the acks as one statement, then retries and dead letters,
  /// then the lease.
  settle_result settle_and_lease(std::string_view queue, std::span<const settlement> batch,
                                 std::size_t max, time_point now, duration visibility) {
    auto steps = detail::postgres::settle_steps(sql_, batch);
    if (max > 0)
      steps.emplace_back(sql_.lease, detail::postgres::lease_params(queue, max, now, visibility));
    if (steps.empty()) return {};
    std::vector<detail::postgres::rows> r;
    if (auto mine = joined(std::this_thread::get_id())) {
      r = mine->send(std::move(steps), "settling");
    } else {
      open_transaction t;
      t.pooled = pool_.take();
      t.conn = &*t.pooled;
      t.pending.push_back(detail::postgres::step::plain(t.opening()));
      try {
        r = t.send(std::move(steps), "settling");
        t.commit();
      } catch (...) {
        t.rollback();  // before the connection goes back to the pool
        throw;
      }
    }
    return detail::postgres::settled(batch, r, max > 0);
  }

  bool ack(std::string_view, const leased_message& m) {
    return changed(sql_.ack, params().integer(m.seq).integer(m.lease), "acking");
  }

  bool extend(std::string_view, const leased_message& m, time_point until) {
    return changed(sql_.extend, params().integer(m.seq).integer(m.lease).time(until),
                   "extending a lease");
  }

  bool retry(std::string_view, const leased_message& m, time_point available_at,
             std::string_view error) {
    return changed(sql_.retry, detail::postgres::settle_params(m, available_at, error),
                   "scheduling a retry");
  }

  bool dead_letter(std::string_view, const leased_message& m, std::string_view reason,
                   time_point now) {
    return changed(sql_.dead_letter, detail::postgres::settle_params(m, now, reason),
                   "dead-lettering");
  }

  std::vector<dead_lettered_message> dead_letters(std::string_view queue, std::size_t limit) {
    auto r = on_connection([&](detail::postgres::connection& c) {
      return c.run(sql_.dead_letters,
                   params().text(queue).integer(static_cast<std::int64_t>(limit)),
                   "reading dead letters");
    });
    return detail::postgres::dead_letter_rows(r);
  }

  std::size_t redrive(std::string_view queue, std::optional<std::int64_t> which, time_point now) {
    auto p = params().text(queue);
    (void)(which ? p.integer(*which) : p.null()).time(now);
    auto tx = begin();
    auto& t = *tx.state_;
    auto moved = t.run(sql_.redrive, std::move(p), "redriving").affected();
    if (moved > 0) notify_in(t, queue);
    tx.commit();
    return static_cast<std::size_t>(moved);
  }

  std::size_t purge_dead_letters(std::string_view queue) {
    return static_cast<std::size_t>(on_connection([&](detail::postgres::connection& c) {
      return c.run(sql_.purge, params().text(queue), "purging dead letters").affected();
    }));
  }

  queue_stats stats(std::string_view queue, time_point now) {
    auto r = on_connection([&](detail::postgres::connection& c) {
      return c.run(sql_.stats, params().text(queue).time(now), "reading stats");
    });
    return detail::postgres::stats_row(r, now);
  }

  /// Makes every call of this store that is waiting for the server fail at
  /// once (errc::storage_unavailable; their transactions roll back with
  /// their connections, which are closed) and refuses new calls, until the
  /// returned guard is destroyed. Workers and relays do this at their stop
  /// deadline, so that a server that stopped answering does not hold a stop.
  [[nodiscard]] detail::postgres::pool::abandonment abandon_calls() { return pool_.abandon(); }

  /// The NOTIFY channel of a queue: payload-free, one per queue and schema.
  [[nodiscard]] std::string channel(std::string_view queue) const {
    return detail::postgres::channel_name(options_.schema, queue);
  }

 private:
  using open_transaction = detail::postgres::open_transaction;
  using params = detail::postgres::params;

  std::unique_ptr<detail::postgres::connection> open(bool prepared = true) {
    auto c = std::make_unique<detail::postgres::connection>(conninfo_, who_);
    c->exec(detail::postgres::session_settings(options_), "configuring the connection");
    if (migrated_ && prepared) sql_.prepare(*c, schema_);
    return c;
  }

  transaction start(std::thread::id me, std::shared_ptr<open_transaction> state) {
    state->pending.push_back(detail::postgres::step::plain(state->opening()));
    state->levels.push_back({state->serials++});
    open_.add(me, state);
    return transaction(*this, std::move(state), me, 0);
  }

  transaction nest(const std::shared_ptr<open_transaction>& t, std::thread::id me) {
    const std::size_t serial = t->serials++;
    t->pending.push_back(
        detail::postgres::step::plain("SAVEPOINT herald_" + std::to_string(serial)));
    t->levels.push_back({serial});
    return transaction(*this, t, me, serial);
  }

  // This thread's open transaction, if it has one. One destroyed on another
  // thread (handed away, a misuse) is rolled back here, on its own thread,
  // and the call throws: this thread's calls joined it since, and savepoints
  // in it reported their commits, so a quiet rollback would lose what its
  // callers were told was done. The store is usable again after.
  std::shared_ptr<open_transaction> joined(std::thread::id me) {
    auto t = open_.find(me);
    if (t && t->abandoned) {
      finish(*t, me, false);
      throw error(errc::invalid_argument, who_ + dropped_text);
    }
    return t;
  }

  // The open transaction `t` of `owner`, for a call through one of its
  // transaction objects on its own thread.
  open_transaction& open_on(open_transaction& t, std::thread::id owner) {
    if (t.abandoned && !t.ended) finish(t, owner, false);
    if (t.ended) {
      throw error(errc::invalid_argument,
                  who_ + (t.abandoned ? abandoned_text : ": the transaction has already ended"));
    }
    return t;
  }

  static constexpr const char* abandoned_text =
      ": the transaction (or the one it is nested in) was destroyed on another thread, so it "
      "was rolled back; nothing of it was written. A transaction belongs to the thread that "
      "began it: end it there";
  static constexpr const char* nested_text =
      ": commit() of a transaction nested in one that rolled back first; nothing of it was "
      "written";
  static constexpr const char* dropped_text =
      ": this thread's transaction was destroyed on another thread, so it was rolled back "
      "here, and work committed inside it since (nested transactions whose commit() returned, "
      "calls of this thread that joined it) was rolled back with it. Use and end a transaction "
      "on the thread that began it, then do that work again";

  // Runs `work` on this thread's open transaction if it has one (joining
  // it), else on a pooled connection as a statement of its own.
  template <class Work>
  auto on_connection(Work&& work) -> decltype(work(std::declval<detail::postgres::connection&>())) {
    if (auto mine = joined(std::this_thread::get_id())) {
      mine->send({}, "sending");
      return work(*mine->conn);
    }
    auto c = pool_.take();
    return work(*c);
  }

  bool changed(const std::string& statement, const params& p, std::string_view doing) {
    return on_connection([&](detail::postgres::connection& c) {
             return c.run(statement, p, doing).affected();
           }) == 1;
  }

  // Other processes hear of the queue after the commit (detail/notifier.hpp),
  // or, in a transaction of the user's, at the user's COMMIT: a NOTIFY in it.
  void notify_in(open_transaction& t, std::string_view queue) {
    const std::string q(queue);
    if (std::find(t.touched.begin(), t.touched.end(), q) != t.touched.end()) return;
    if (t.inside_yours) t.pending.emplace_back(sql_.notify, params().text(channel(queue)));
    t.touched.push_back(q);
  }

  // Ends `owner`'s transaction `t` at the level of transaction `serial` and
  // those begun inside it. A failed COMMIT leaves it open, so that the
  // destructor rolls it back. A commit of what did not commit throws.
  void end(open_transaction& t, std::thread::id owner, std::size_t serial, bool commit) {
    if (t.abandoned && !t.ended) {
      finish(t, owner, false);
      if (commit) throw error(errc::invalid_argument, who_ + abandoned_text);
      return;
    }
    if (t.ended) {
      if (commit && !t.committed) {
        throw error(errc::invalid_argument, who_ + (t.abandoned ? abandoned_text : nested_text));
      }
      return;  // an outer one ended it
    }
    if (serial == 0) {
      finish(t, owner, commit);
      return;
    }
    auto& levels = t.levels;
    const auto at = std::find_if(levels.begin(), levels.end(),
                                 [&](const auto& l) { return l.front() == serial; });
    if (at == levels.end()) {  // an outer savepoint ended it
      if (commit &&
          std::find(t.rolled_back.begin(), t.rolled_back.end(), serial) != t.rolled_back.end()) {
        throw error(errc::invalid_argument, who_ + nested_text);
      }
      return;  // released into the enclosing level: it commits with that
    }
    const std::string savepoint = "herald_" + std::to_string(serial);
    if (commit) {
      t.pending.push_back(detail::postgres::step::plain("RELEASE " + savepoint));
      // What was released into this level, and the levels inside it, now
      // lives in the enclosing one and shares its fate.
      auto& into = *(at - 1);
      for (auto it = at; it != levels.end(); ++it) into.insert(into.end(), it->begin(), it->end());
    } else {
      // A failure of what was pending is what the savepoint undoes; a
      // broken connection fails the outer COMMIT too.
      try {
        t.send({}, "sending");
      } catch (const store_error&) {
      }
      try {
        t.conn->exec("ROLLBACK TO " + savepoint + "; RELEASE " + savepoint,
                     "rolling back a nested transaction");
      } catch (const store_error&) {
      }
      for (auto it = at; it != levels.end(); ++it)
        t.rolled_back.insert(t.rolled_back.end(), it->begin(), it->end());
    }
    levels.erase(at, levels.end());
  }

  // Ends the outermost level of `owner`'s transaction `t`, on `owner`'s thread.
  void finish(open_transaction& t, std::thread::id owner, bool commit) {
    if (commit) {
      t.commit();
    } else {
      t.rollback();
    }
    t.ended = true;
    t.committed = commit;
    auto state = open_.remove(owner);
    state->pooled = {};  // back to the pool now: transaction objects may outlive it
    for (const auto& q : commit ? state->touched : std::vector<std::string>{}) {
      arrivals_.notify(q);
      if (!state->inside_yours) notifier_.post(q);
    }
  }

  // Creates or migrates the schema (detail/migrate.hpp), then prepares the
  // statements on the connection it used.
  void migrate() {
    auto c = pool_.take();
    detail::postgres::migrate(*c, options_.schema, schema_, who_);
    sql_.prepare(*c, schema_);
    for (auto& [name, text] : sql_.sql(schema_)) texts_.emplace(std::move(name), std::move(text));
    migrated_ = true;
  }

  std::string conninfo_;
  postgres_options options_;
  std::string who_;
  std::string schema_;  // quoted
  detail::postgres::queue_statements sql_;
  detail::postgres::statement_texts texts_;  // for the users' connections
  bool migrated_ = false;                    // set once, before the store is shared
  detail::postgres::pool pool_;
  detail::postgres::transaction_table open_;  // holds pooled connections: it goes first
  std::atomic<std::uint64_t> enqueues_{0};
  arrival_signal arrivals_;
  std::optional<std::uint64_t> collector_;
  detail::postgres::notifier notifier_{
      {[this] { return open(false); }, [this](std::string_view q) { return channel(q); }},
      options_.failures,
      options_.schema};
  std::unique_ptr<detail::postgres::listener> listener_;  // uses all of the above
};

static_assert(queue_store<postgres_store>);

}  // namespace herald
