// SPDX-License-Identifier: MIT
#pragma once

#include <libpq-fe.h>
#include <sys/socket.h>

#include <atomic>         // cut from another thread
#include <chrono>         // times as nanoseconds
#include <cstdint>        // integers
#include <cstdlib>        // strtoll
#include <memory>         // result ownership
#include <string>         // text
#include <string_view>    // SQL
#include <unordered_map>  // statement texts, on a borrowed connection
#include <utility>        // std::exchange
#include <vector>         // parameters of a batch

#include "herald/clock.hpp"
#include "herald/error.hpp"

namespace herald::detail::postgres {

struct result_free {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_free>;

// Times are stored as nanoseconds since the epoch of the caller's clock,
// as the SQLite store does, so that a manual clock drives them in tests.
inline std::int64_t nanos(time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
inline time_point to_time(std::int64_t ns) noexcept {
  return time_point{std::chrono::duration_cast<duration>(std::chrono::nanoseconds{ns})};
}

// A statement's text parameters: numbers become text once, here.
class params {
 public:
  params& text(std::string_view v) {
    // libpq reads a text parameter as a C string: a NUL would end it there and
    // make two distinct values one. Named fields are refused earlier, with
    // their names (store/field_limits.hpp); this guards every other value.
    if (v.find('\0') != std::string_view::npos) refuse_nul(v);
    owned_.emplace_back(v);
    return *this;
  }
  params& integer(std::int64_t v) { return text(std::to_string(v)); }
  params& time(time_point t) { return integer(nanos(t)); }
  params& null() {
    owned_.emplace_back();
    nulls_.push_back(owned_.size() - 1);
    return *this;
  }
  [[nodiscard]] int size() const noexcept { return static_cast<int>(owned_.size()); }
  [[noreturn]] static void refuse_nul(std::string_view v) {
    std::string shown;
    for (const char c : v.substr(0, 64))
      shown += c == '\0' ? std::string("\\0") : std::string(1, c);
    throw error(errc::invalid_argument,
                "postgres: a value sent to the server holds a NUL byte ('" + shown +
                    (v.size() > 64 ? "...'" : "'") +
                    "): PostgreSQL text cannot carry one; remove it from the value");
  }
  // Valid until this changes; std::string keeps short values inline, so
  // the pointers are taken only now.
  [[nodiscard]] std::vector<const char*> values() const {
    std::vector<const char*> v;
    v.reserve(owned_.size());
    for (const auto& s : owned_) v.push_back(s.c_str());
    for (auto i : nulls_) v[i] = nullptr;
    return v;
  }

 private:
  std::vector<std::string> owned_;
  std::vector<std::size_t> nulls_;
};

// A result's rows, read by column.
class rows {
 public:
  explicit rows(result_ptr r) : r_(std::move(r)) {}
  [[nodiscard]] int size() const noexcept { return PQntuples(r_.get()); }
  [[nodiscard]] bool null(int row, int col) const noexcept {
    return PQgetisnull(r_.get(), row, col) == 1;
  }
  [[nodiscard]] std::string text(int row, int col) const {
    return {PQgetvalue(r_.get(), row, col),
            static_cast<std::size_t>(PQgetlength(r_.get(), row, col))};
  }
  [[nodiscard]] std::int64_t integer(int row, int col) const {
    return std::strtoll(PQgetvalue(r_.get(), row, col), nullptr, 10);
  }
  [[nodiscard]] time_point time(int row, int col) const { return to_time(integer(row, col)); }
  [[nodiscard]] std::int64_t affected() const {
    return std::strtoll(PQcmdTuples(r_.get()), nullptr, 10);
  }
  // The command tag: "COMMIT", or "ROLLBACK" for a COMMIT of a failed transaction.
  [[nodiscard]] std::string_view command() const { return PQcmdStatus(r_.get()); }

 private:
  result_ptr r_;
};

// One statement of a pipeline: a prepared statement by name, or plain SQL
// without parameters (BEGIN, COMMIT, SAVEPOINT).
struct step {
  const std::string* prepared = nullptr;
  std::string sql;
  params values;

  step(const std::string& name, params p) : prepared(&name), values(std::move(p)) {}
  static step plain(std::string text) {
    step s;
    s.sql = std::move(text);
    return s;
  }

 private:
  step() = default;
};

// The SQL of each prepared statement by name: a borrowed connection sends
// the text, since herald cannot know what the user prepared or discarded.
using statement_texts = std::unordered_map<std::string, std::string>;

// One connection, its prepared statements, and what it was doing when it
// failed. Not thread-safe: the pool hands it to one caller at a time.
class connection {
 public:
  // The user's connection, never closed here; statements go as text.
  connection(PGconn* borrowed, const statement_texts& texts, std::string_view who)
      : who_(who), conn_(borrowed), texts_(&texts) {}

  connection(const std::string& conninfo, std::string_view who) : who_(who) {
    // libpq has no client-side timeout: a server that stops answering (a
    // partition, a dead host) would hold a call for as long as TCP retries.
    // Keepalives find an idle connection dead within about 25 s and
    // tcp_user_timeout one whose sent data goes unacknowledged for 30 s.
    // What the connection string says wins: it comes last.
    const char* keys[] = {"keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "tcp_user_timeout",
                          "dbname",
                          nullptr};
    const char* values[] = {"1", "10", "5", "3", "30000", conninfo.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      std::string why = conn_ ? PQerrorMessage(conn_) : "out of memory";
      PQfinish(conn_);
      conn_ = nullptr;
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
      throw store_error(errc::storage_unavailable,
                        who_ + ": cannot connect: " + why +
                            " (is the server running, and the connection string right?)");
    }
    // Notices ("already exists, skipping") are not the user's business:
    // libpq would print them to stderr.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection() {
    if (!texts_) PQfinish(conn_);
  }

  [[nodiscard]] PGconn* get() const noexcept { return conn_; }
  // False once the server went away: the pool then opens a new one.
  [[nodiscard]] bool healthy() const noexcept {
    return !cut_.load() && PQstatus(conn_) == CONNECTION_OK;
  }

  // From another thread: the call under way (and any later one) fails at
  // once, as if the server had closed the connection. The socket stays
  // open until the owner closes the connection, so its number is not reused.
  void cut() noexcept {
    cut_ = true;
    if (const int fd = PQsocket(conn_); fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }

  // Runs SQL without parameters (several statements allowed).
  rows exec(const std::string& sql, std::string_view doing) {
    return check(result_ptr(PQexec(conn_, sql.c_str())), doing);
  }

  void prepare(const std::string& name, const std::string& sql) {
    if (texts_) return;
    check(result_ptr(PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr)), "preparing " + name);
  }

  rows run(const std::string& name, const params& p, std::string_view doing) {
    auto v = p.values();
    if (texts_) {
      return check(result_ptr(PQexecParams(conn_, texts_->at(name).c_str(), p.size(), nullptr,
                                           v.data(), nullptr, nullptr, 0)),
                   doing);
    }
    return check(
        result_ptr(PQexecPrepared(conn_, name.c_str(), p.size(), v.data(), nullptr, nullptr, 0)),
        doing);
  }

  // Runs each step in one pipeline (one round trip for all) and returns
  // their results in order; the first failure throws after the pipeline is
  // drained, so that the connection stays usable (a transaction it was in
  // is then aborted: roll it back).
  std::vector<rows> pipeline(const std::vector<step>& steps, std::string_view doing) {
    if (PQenterPipelineMode(conn_) != 1) fail(nullptr, doing);
    std::vector<result_ptr> results;
    bool sent = true;
    for (const auto& s : steps) {
      auto v = s.values.values();
      const int n = s.values.size();
      const int ok =
          !s.prepared
              ? PQsendQueryParams(conn_, s.sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0)
          : texts_
              ? PQsendQueryParams(conn_, texts_->at(*s.prepared).c_str(), n, nullptr, v.data(),
                                  nullptr, nullptr, 0)
              : PQsendQueryPrepared(conn_, s.prepared->c_str(), n, v.data(), nullptr, nullptr, 0);
      if (ok != 1) {
        sent = false;
        break;
      }
    }
    if (PQpipelineSync(conn_) != 1) sent = false;
    result_ptr failure;
    // Each query's result, then a null; then the sync's result.
    for (bool done = false; !done && sent;) {
      result_ptr r(PQgetResult(conn_));
      if (!r) {
        if (PQstatus(conn_) != CONNECTION_OK) break;
        continue;
      }
      switch (PQresultStatus(r.get())) {
        case PGRES_PIPELINE_SYNC:
          done = true;
          break;
        case PGRES_COMMAND_OK:
        case PGRES_TUPLES_OK:
          results.push_back(std::move(r));
          break;
        case PGRES_PIPELINE_ABORTED:
          break;
        default:
          if (!failure) failure = std::move(r);
          break;
      }
    }
    PQexitPipelineMode(conn_);
    if (failure || !sent || results.size() != steps.size()) fail(failure.get(), doing);
    std::vector<rows> out;
    out.reserve(results.size());
    for (auto& r : results) out.emplace_back(std::move(r));
    return out;
  }

 private:
  rows check(result_ptr r, std::string_view doing) {
    const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail(r.get(), doing);
    return rows(std::move(r));
  }

  // Turns a failed result into the herald error a user can act on.
  [[noreturn]] void fail(const PGresult* r, std::string_view doing) const {
    std::string text = r ? PQresultErrorMessage(r) : PQerrorMessage(conn_);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    const std::string sqlstate = state ? state : "";
    errc code = errc::storage_failed;
    std::string hint;
    if (!healthy() || sqlstate.starts_with("08") || sqlstate.starts_with("57P")) {
      code = errc::storage_unavailable;
      hint = "; the connection is gone: the next call opens a new one";
    } else if (sqlstate == "57014") {
      code = errc::storage_busy;
      hint = "; the statement ran past postgres_options::statement_timeout";
    } else if (sqlstate == "55P03") {
      code = errc::storage_busy;
      hint = "; a lock was held past postgres_options::lock_timeout";
    } else if (sqlstate == "40001" || sqlstate == "40P01") {
      code = errc::storage_busy;
      hint = "; it lost a conflict with another transaction: try again";
    } else if (sqlstate == "53100") {
      code = errc::storage_full;
    }
    throw store_error(code, who_ + ": " + std::string(doing) + " failed" +
                                (sqlstate.empty() ? "" : " (SQLSTATE " + sqlstate + ")") + ": " +
                                text + hint);
  }

  std::string who_;
  PGconn* conn_ = nullptr;
  const statement_texts* texts_ = nullptr;  // set: borrowed, statements go as text
  std::atomic<bool> cut_{false};
};

}  // namespace herald::detail::postgres
