// SPDX-License-Identifier: MIT
#pragma once

#include <sqlite3.h>

#include <algorithm>    // std::min, for the pause between tries
#include <chrono>       // times are stored as nanoseconds since the epoch
#include <cstdint>      // integer columns
#include <string>       // error text, text columns
#include <string_view>  // SQL and bound text
#include <thread>       // a pause between tries while another process creates the file
#include <utility>      // std::exchange

#include "herald/clock.hpp"
#include "herald/error.hpp"

namespace herald::detail::sqlite {

inline std::int64_t to_column(time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

inline time_point to_time(std::int64_t ns) noexcept {
  return time_point{std::chrono::duration_cast<duration>(std::chrono::nanoseconds{ns})};
}

// Turns an SQLite result code into the herald error a user can act on.
[[noreturn]] inline void fail(sqlite3* db, int rc, std::string_view doing, const std::string& path,
                              std::chrono::milliseconds busy_timeout) {
  const std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const std::string where = "sqlite store '" + path + "': " + std::string(doing) + ": ";
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw store_error(
          errc::storage_busy,
          where + "another connection held the database locked for longer than the " +
              "busy timeout (" + std::to_string(busy_timeout.count()) +
              " ms); nothing was changed, try again or raise sqlite_options::busy_timeout");
    case SQLITE_FULL:
      throw store_error(errc::storage_full,
                        where + "the disk or the database's page limit is full (" + detail +
                            "); nothing was changed, free space and try again");
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      throw store_error(errc::storage_corrupt,
                        where + "the file is not an SQLite database or is damaged (" + detail +
                            "); restore it from a backup or open another file");
    default:
      throw store_error(errc::storage_failed, where + detail);
  }
}

// Runs `step` again while it fails with storage_busy, until `timeout` has
// passed: the error then says what it claims, a lock held that long. For
// what SQLite answers SQLITE_BUSY without calling the busy handler (switching
// a new file to WAL while another process does the same).
template <class Step>
void while_busy(std::chrono::milliseconds timeout, Step&& step) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto pause = std::chrono::milliseconds(1);;
       pause = std::min(pause * 2, std::chrono::milliseconds(50))) {
    try {
      step();
      return;
    } catch (const store_error& e) {
      if (e.code() != errc::storage_busy || std::chrono::steady_clock::now() >= deadline) throw;
    }
    std::this_thread::sleep_for(pause);
  }
}

// Writes into a file unlinked or replaced under the store would vanish at
// close: refuse them, loudly. One stat, through SQLite's own check.
inline void check_not_moved(sqlite3* db, const std::string& path) {
  int moved = 0;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK && moved) {
    throw store_error(errc::storage_lost,
                      "sqlite store '" + path +
                          "': the database file was deleted or replaced while the store had it "
                          "open; nothing more is written, since it would be lost at close. "
                          "Restore the file and open a new store (what this store wrote after "
                          "the deletion is lost with the deleted file)");
  }
}

// One prepared statement, reset after each use so it is ready for the next.
class statement {
 public:
  statement() = default;
  statement(sqlite3* db, std::string_view sql) : db_(db) {
    int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    if (rc != SQLITE_OK)
      throw store_error(errc::storage_failed, std::string("sqlite: preparing a statement: ") +
                                                  sqlite3_errmsg(db) + " in: " + std::string(sql));
  }
  statement(statement&& other) noexcept
      : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)) {}
  statement& operator=(statement&& other) noexcept {
    std::swap(db_, other.db_);
    std::swap(stmt_, other.stmt_);
    return *this;
  }
  ~statement() { sqlite3_finalize(stmt_); }

  sqlite3_stmt* get() const noexcept { return stmt_; }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

// Binds, steps and resets one statement; columns are read between steps.
class run {
 public:
  run(const statement& s, const std::string& path, std::chrono::milliseconds busy_timeout)
      : stmt_(s.get()), path_(path), busy_timeout_(busy_timeout) {}
  ~run() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  run(const run&) = delete;
  run& operator=(const run&) = delete;

  run& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  run& bind(int i, time_point t) { return bind(i, to_column(t)); }
  run& bind(int i, std::string_view text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
    return *this;
  }
  run& bind_null(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }

  // True while there is a row to read.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(sqlite3_db_handle(stmt_), rc, "running a statement", path_, busy_timeout_);
  }

  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  time_point time(int col) const { return to_time(integer(col)); }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }

 private:
  sqlite3_stmt* stmt_;
  const std::string& path_;
  std::chrono::milliseconds busy_timeout_;
};

}  // namespace herald::detail::sqlite
