// SPDX-License-Identifier: MIT
#pragma once

#include <sqlite3.h>

#include <algorithm>    // leases in send order
#include <chrono>       // busy timeout
#include <cstddef>      // counts
#include <cstdint>      // columns
#include <mutex>        // one connection, many worker threads
#include <optional>     // redrive one or all
#include <span>         // batches
#include <string>       // path, text
#include <string_view>  // queue names
#include <thread>       // a transaction belongs to its thread
#include <utility>      // std::move
#include <vector>       // results

#include "herald/clock.hpp"
#include "herald/error.hpp"
#include "herald/sqlite/detail/disk_reserve.hpp"
#include "herald/sqlite/detail/queue_statements.hpp"
#include "herald/sqlite/detail/schema.hpp"
#include "herald/sqlite/detail/statement.hpp"
#include "herald/sqlite/sqlite_options.hpp"
#include "herald/store/queue_store.hpp"

namespace herald {

/// The embedded queue store: one SQLite file in WAL mode, shared safely by
/// threads of this process (one connection, serialized) and by other
/// processes (each with its own store on the same file). The schema is
/// created and versioned here; a file from a newer herald is refused.
class sqlite_store {
 public:
  using queue_store_concept = queue_store_tag;
  static constexpr std::int64_t schema_version = 4;
  /// A commit costs more than the statements in it: settle and lease together.
  static constexpr bool batch_settlements = true;

  /// BEGIN IMMEDIATE … COMMIT on the store's connection; rolls back unless
  /// committed. Other threads wait for it; calls on this thread join it, and
  /// a begin() inside it is a nested transaction (a SAVEPOINT). Belongs to the
  /// thread that began it: used from another it throws errc::invalid_argument;
  /// destroyed on another (it holds the store's lock, which only its thread
  /// can release) it ends the process with a sentence. connection() lets the
  /// caller write its own rows in it.
  class transaction {
   public:
    transaction(transaction&& other) noexcept
        : store_(std::exchange(other.store_, nullptr)),
          level_(other.level_),
          thread_(other.thread_),
          lock_(std::move(other.lock_)) {}
    transaction& operator=(transaction&&) = delete;
    ~transaction() {
      if (!store_) return;
      if (thread_ != std::this_thread::get_id())
        detail::destroyed_on_another_thread("sqlite store");
      store_->end(level_, false);
    }

    /// Throws errc::invalid_argument, and changes nothing, on another thread.
    void commit() {
      if (!store_) {
        throw error(errc::invalid_argument,
                    "sqlite store: commit() on a transaction that already ended");
      }
      detail::check_thread(thread_, "sqlite store '" + store_->path_ + "'");
      store_->end(level_, true);
      store_ = nullptr;
      lock_ = {};
    }

    /// The connection, on the thread that began the transaction only.
    [[nodiscard]] sqlite3* connection() const {
      detail::check_thread(thread_, "sqlite store");
      return store_->db_;
    }
    /// The store that made it.
    [[nodiscard]] const sqlite_store* store() const noexcept { return store_; }
    /// The thread that began it, the only one that may use and end it.
    [[nodiscard]] std::thread::id thread() const noexcept { return thread_; }

   private:
    friend class sqlite_store;
    explicit transaction(sqlite_store& store) : store_(&store), lock_(store.mutex_) {
      store.check_file();
      level_ = store.depth_;
      if (level_ == 0) {
        store.exec("BEGIN IMMEDIATE", "starting a transaction");
      } else {
        store.exec("SAVEPOINT herald_" + std::to_string(level_), "starting a nested transaction");
      }
      ++store.depth_;
    }
    sqlite_store* store_;
    std::size_t level_ = 0;
    std::thread::id thread_ = std::this_thread::get_id();
    std::unique_lock<std::recursive_mutex> lock_;
  };

  explicit sqlite_store(std::string path, sqlite_options options = {})
      : path_(std::move(path)), options_(options) {
    int rc =
        sqlite3_open_v2(path_.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      throw store_error(errc::storage_failed, "sqlite store '" + path_ + "': cannot open: " + why);
    }
    try {
      if (sqlite3_db_readonly(db_, "main") == 1) {
        throw store_error(errc::storage_failed,
                          "sqlite store '" + path_ +
                              "': the file opened read-only (this process may not write it, "
                              "or its filesystem is mounted read-only); a queue store must "
                              "write: fix its permissions or choose another path");
      }
      sqlite3_busy_timeout(db_, static_cast<int>(options_.busy_timeout.count()));
      // Switching a new file to WAL, and creating its schema, can meet
      // another process doing the same: SQLite answers SQLITE_BUSY there
      // without calling the busy handler, so wait here instead.
      detail::sqlite::while_busy(options_.busy_timeout,
                                 [&] { exec("PRAGMA journal_mode=WAL", "switching to WAL mode"); });
      exec(std::string("PRAGMA synchronous=") + sync_name(options_.synchronous),
           "setting synchronous");
      if (detail::sqlite::disk_reserve::applies(path_, options_.disk_reserve)) {
        // A checkpoint after a full disk needs room for the pages the WAL
        // holds: keep them under half of the reserve.
        const auto pages = std::max<std::size_t>(options_.disk_reserve / 2 / 4096, 16);
        exec("PRAGMA wal_autocheckpoint=" + std::to_string(pages), "setting wal_autocheckpoint");
        reserve_ = detail::sqlite::disk_reserve(path_ + "-reserve", options_.disk_reserve);
      }
      detail::sqlite::while_busy(options_.busy_timeout, [&] { migrate(); });
      statements_ = detail::sqlite::queue_statements(db_);
    } catch (...) {
      statements_ = {};
      sqlite3_close(db_);
      throw;
    }
  }

  sqlite_store(const sqlite_store&) = delete;
  sqlite_store& operator=(const sqlite_store&) = delete;
  ~sqlite_store() {
    statements_ = {};
    sqlite3_close(db_);
  }

  [[nodiscard]] transaction begin() { return transaction(*this); }

  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] const sqlite_options& options() const noexcept { return options_; }

  /// The connection, for settings such as `PRAGMA max_page_count`; not to
  /// be used while other threads work the store.
  [[nodiscard]] sqlite3* connection() const noexcept { return db_; }

  std::vector<enqueue_result> enqueue(transaction& tx, std::string_view queue,
                                      std::span<const queue_message_draft> drafts, time_point now,
                                      duration dedup_window) {
    detail::check_transaction(tx, this, "sqlite store '" + path_ + "'");
    detail::check_send(queue, drafts);
    if (!reserve_.ensure()) {
      throw store_error(errc::storage_full,
                        "sqlite store '" + path_ + "': the disk is full; the store gave up its " +
                            std::to_string(reserve_.bytes()) +
                            "-byte reserve so that workers can settle what is queued, and takes "
                            "no sends until there is room to set it aside again: free space");
    }
    std::vector<enqueue_result> results;
    results.reserve(drafts.size());
    if (++enqueues_ % 256 == 0) {
      use(statements_.prune_dedup).bind(1, queue).bind(2, now).step();
    }
    for (const auto& d : drafts) {
      if (!d.deduplication_id.empty()) {
        auto claim = use(statements_.claim_dedup);
        claim.bind(1, queue)
            .bind(2, d.deduplication_id)
            .bind(3, saturating_add(now, dedup_window))
            .bind(4, d.id)
            .bind(5, now);
        claim.step();
        if (sqlite3_changes(db_) == 0) {
          auto original = use(statements_.dedup_id);
          original.bind(1, queue).bind(2, d.deduplication_id);
          results.push_back({original.step() ? original.text(0) : d.id, true});
          continue;
        }
      }
      auto insert = use(statements_.insert);
      insert.bind(1, queue)
          .bind(2, d.id)
          .bind(3, d.body)
          .bind(4, d.group)
          .bind(5, now)
          .bind(6, d.available_at);
      insert.step();
      results.push_back({d.id, false});
    }
    arrivals_.notify(queue);
    return results;
  }

  /// Wakes this process's idle workers of a queue when a message is sent to it.
  [[nodiscard]] arrival_signal& arrivals() noexcept { return arrivals_; }

  std::vector<leased_message> lease(std::string_view queue, std::size_t max, time_point now,
                                    duration visibility) {
    return despite_full_disk([&] { return lease_now(queue, max, now, visibility); });
  }

 private:
  std::vector<leased_message> lease_now(std::string_view queue, std::size_t max, time_point now,
                                        duration visibility) {
    std::vector<leased_message> out;
    auto tx = begin();
    {
      auto r = use(statements_.lease);
      r.bind(1, queue)
          .bind(2, now)
          .bind(3, saturating_add(now, visibility))
          .bind(4, static_cast<std::int64_t>(max));
      while (r.step()) {
        out.push_back({r.integer(0), r.text(1), r.text(2), r.text(3),
                       static_cast<std::uint32_t>(r.integer(4)), r.time(5), r.time(6), r.time(7),
                       r.integer(8)});
      }
    }
    tx.commit();
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
    return out;
  }

  // Leasing and settling free what sends filled: on a full disk, give up
  // the reserve, checkpoint into the room it leaves, and try once more.
  template <class Work>
  auto despite_full_disk(Work&& work) -> decltype(work()) {
    try {
      return work();
    } catch (const store_error& e) {
      std::lock_guard lock(mutex_);
      if (e.code() != errc::storage_full || !reserve_.release()) throw;
      // RESTART: the next writer rewinds the WAL and reuses its space.
      sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_RESTART, nullptr, nullptr);
    }
    return work();
  }

 public:
  bool ack(std::string_view, const leased_message& m) {
    return changed(statements_.ack,
                   [&](detail::sqlite::run& r) { r.bind(1, m.seq).bind(2, m.lease); });
  }

  bool extend(std::string_view, const leased_message& m, time_point until) {
    return changed(statements_.extend, [&](detail::sqlite::run& r) {
      r.bind(1, m.seq).bind(2, m.lease).bind(3, until);
    });
  }

  bool retry(std::string_view, const leased_message& m, time_point available_at,
             std::string_view error) {
    return changed(statements_.retry, [&](detail::sqlite::run& r) {
      r.bind(1, m.seq).bind(2, m.lease).bind(3, available_at).bind(4, error);
    });
  }

  bool dead_letter(std::string_view, const leased_message& m, std::string_view reason,
                   time_point now) {
    return changed(statements_.dead_letter, [&](detail::sqlite::run& r) {
      r.bind(1, m.seq).bind(2, m.lease).bind(3, now).bind(4, reason);
    });
  }

  std::vector<dead_lettered_message> dead_letters(std::string_view queue, std::size_t limit) {
    std::lock_guard lock(mutex_);
    std::vector<dead_lettered_message> out;
    auto r = use(statements_.dead_letters);
    r.bind(1, queue).bind(2, static_cast<std::int64_t>(limit));
    while (r.step()) {
      out.push_back({r.integer(0), r.text(1), r.text(2), r.text(3), r.text(4),
                     static_cast<std::uint32_t>(r.integer(5)), r.time(6), r.time(7), r.time(8),
                     r.time(9)});
    }
    return out;
  }

  std::size_t redrive(std::string_view queue, std::optional<std::int64_t> which, time_point now) {
    auto tx = begin();
    {
      auto copy = use(statements_.redrive_copy);
      copy.bind(1, queue).bind(3, now);
      if (which)
        copy.bind(2, *which);
      else
        copy.bind_null(2);
      copy.step();
    }
    auto moved = static_cast<std::size_t>(sqlite3_changes(db_));
    {
      auto remove = use(statements_.redrive_remove);
      remove.bind(1, queue);
      if (which)
        remove.bind(2, *which);
      else
        remove.bind_null(2);
      remove.step();
    }
    tx.commit();
    if (moved > 0) arrivals_.notify(queue);
    return moved;
  }

  std::size_t purge_dead_letters(std::string_view queue) {
    return despite_full_disk([&] {
      std::lock_guard lock(mutex_);
      check_file();
      auto r = use(statements_.purge);
      r.bind(1, queue).step();
      return static_cast<std::size_t>(sqlite3_changes(db_));
    });
  }

  queue_stats stats(std::string_view queue, time_point now) {
    std::lock_guard lock(mutex_);
    check_file();
    auto r = use(statements_.stats);
    r.bind(1, queue).bind(2, now);
    queue_stats s;
    if (r.step()) {
      s.dead_lettered = static_cast<std::size_t>(r.integer(0));
      s.in_flight = static_cast<std::size_t>(r.integer(1));
      s.delayed = static_cast<std::size_t>(r.integer(2));
      s.depth = static_cast<std::size_t>(r.integer(3));
      if (sqlite3_column_type(statements_.stats.get(), 4) != SQLITE_NULL)
        s.oldest_age = now - r.time(4);
      if (sqlite3_column_type(statements_.stats.get(), 5) != SQLITE_NULL) s.lag = now - r.time(5);
    }
    return s;
  }

 private:
  detail::sqlite::run use(const detail::sqlite::statement& s) {
    return detail::sqlite::run(s, path_, options_.busy_timeout);
  }

  static const char* sync_name(sqlite_sync s) {
    switch (s) {
      case sqlite_sync::off:
        return "OFF";
      case sqlite_sync::full:
        return "FULL";
      case sqlite_sync::normal:
        break;
    }
    return "NORMAL";
  }

  void check_file() { detail::sqlite::check_not_moved(db_, path_); }

  template <class Bind>
  bool changed(const detail::sqlite::statement& s, Bind&& bind) {
    return despite_full_disk([&] {
      std::lock_guard lock(mutex_);
      check_file();
      auto r = use(s);
      bind(r);
      r.step();
      return sqlite3_changes(db_) == 1;
    });
  }

  void exec(const std::string& sql, std::string_view doing) {
    char* message = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    sqlite3_free(message);
    if (rc != SQLITE_OK) detail::sqlite::fail(db_, rc, doing, path_, options_.busy_timeout);
  }

  void exec_noexcept(const std::string& sql) noexcept {
    sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }

  // Ends the transaction at `level` and those begun inside it. A failed
  // COMMIT leaves the transaction open, so that the destructor rolls it back.
  void end(std::size_t level, bool commit) {
    if (level >= depth_) return;  // an outer one already ended it
    const std::string savepoint = "herald_" + std::to_string(level);
    if (commit) {
      exec(level == 0 ? "COMMIT" : "RELEASE " + savepoint, "committing");
    } else if (level == 0) {
      exec_noexcept("ROLLBACK");
    } else {
      exec_noexcept("ROLLBACK TO " + savepoint + "; RELEASE " + savepoint);
    }
    depth_ = level;
  }

  // Version 1 held the messages; version 2 added deduplication and the group index.
  void migrate() {
    auto tx = begin();
    exec("CREATE TABLE IF NOT EXISTS herald_schema (version INTEGER NOT NULL)",
         "reading the schema");
    std::int64_t version = 0;
    {
      detail::sqlite::statement read(db_, "SELECT max(version) FROM herald_schema");
      detail::sqlite::run r(read, path_, options_.busy_timeout);
      if (r.step()) version = r.integer(0);
    }
    if (version > schema_version) {
      throw store_error(errc::schema_too_new,
                        "sqlite store '" + path_ + "': the file has herald schema version " +
                            std::to_string(version) + ", this herald knows versions up to " +
                            std::to_string(schema_version) +
                            "; open it with a newer herald (nothing was changed)");
    }
    if (version < 1) {
      exec(detail::sqlite::schema_v1, "creating schema version 1");
    }
    if (version < 2) exec(detail::sqlite::schema_v2, "migrating to schema version 2");
    if (version < 3) exec(detail::sqlite::schema_v3, "migrating to schema version 3");
    if (version < 4) exec(detail::sqlite::schema_v4, "migrating to schema version 4");
    if (version != schema_version) {
      exec("DELETE FROM herald_schema; INSERT INTO herald_schema VALUES (" +
               std::to_string(schema_version) + ")",
           "recording the schema version");
    }
    tx.commit();
  }

  std::string path_;
  sqlite_options options_;
  sqlite3* db_ = nullptr;
  std::recursive_mutex mutex_;
  std::size_t depth_ = 0;  // transactions open on the connection, nested ones included
  detail::sqlite::queue_statements statements_;
  detail::sqlite::disk_reserve reserve_;
  std::uint64_t enqueues_ = 0;
  arrival_signal arrivals_;
};

static_assert(queue_store<sqlite_store>);

}  // namespace herald
