// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>         // abandoned from another thread
#include <cstddef>        // serials of nested transactions
#include <memory>         // per-thread state, a borrowed connection
#include <mutex>          // the table
#include <string>         // queue names
#include <string_view>    // what it was doing
#include <thread>         // a transaction belongs to its thread
#include <unordered_map>  // open transactions by thread
#include <utility>        // std::move
#include <vector>         // steps not yet sent

#include "herald/error.hpp"
#include "herald/postgres/detail/connection.hpp"
#include "herald/postgres/detail/pool.hpp"

namespace herald::detail::postgres {

// One thread's open transaction. Statements whose answer nobody waits for
// (BEGIN, SAVEPOINT, sends, NOTIFY) are kept and go with the next one that
// needs an answer, or with the COMMIT: a send outside a transaction is one
// round trip, and a transaction that wrote nothing costs none.
struct open_transaction {
  pool::lease pooled;                    // a connection of the store's pool, or
  std::unique_ptr<connection> borrowed;  // the user's, never closed here
  connection* conn = nullptr;            // whichever of the two it runs on
  // The levels open, outermost first, each with the serials of the
  // transactions whose work it holds: its own, and those released into it.
  // Serials are never reused, so a transaction an outer level ended is told
  // from one begun at its place since.
  std::vector<std::vector<std::size_t>> levels;
  std::vector<std::size_t> rolled_back;  // serials undone by an outer savepoint's rollback
  std::size_t serials = 0;               // the next serial; 0 is the outermost
  std::vector<std::string> touched;      // queues sent to: NOTIFY sent, wake at commit
  std::vector<step> pending;             // not yet sent, in order
  bool on_server = false;                // something was sent: it must be ended there
  bool inside_yours = false;             // a savepoint in a transaction the user began
  bool ended = false;                    // committed or rolled back; `committed` says which
  bool committed = false;
  std::atomic<bool> abandoned{false};  // destroyed on another thread: its own rolls it back

  [[nodiscard]] const char* opening() const noexcept {
    return inside_yours ? "SAVEPOINT herald_yours" : "BEGIN";
  }

  // Sends what is pending and then `more` in one round trip; returns the
  // results of `more`. On failure nothing is pending and the transaction is
  // aborted on the server: it can only roll back.
  std::vector<rows> send(std::vector<step> more, std::string_view doing) {
    const std::size_t skip = pending.size();
    if (skip == 0 && more.empty()) return {};
    std::vector<step> all = std::move(pending);
    pending.clear();
    for (auto& s : more) all.push_back(std::move(s));
    on_server = true;
    auto results = conn->pipeline(all, doing);
    results.erase(results.begin(), results.begin() + static_cast<std::ptrdiff_t>(skip));
    return results;
  }

  rows run(const std::string& statement, params p, std::string_view doing) {
    std::vector<step> one;
    one.emplace_back(statement, std::move(p));
    return std::move(send(std::move(one), doing).front());
  }

  // Ends the outermost level: COMMIT with what is pending, checked, since
  // PostgreSQL answers COMMIT of a failed transaction with a ROLLBACK.
  void commit() {
    if (!on_server && pending.size() <= 1) {
      pending.clear();  // only the BEGIN: nothing was written
      return;
    }
    std::vector<step> end;
    end.push_back(step::plain(inside_yours ? "RELEASE herald_yours" : "COMMIT"));
    auto r = send(std::move(end), "committing");
    if (r.front().command() == "ROLLBACK") {
      throw store_error(errc::storage_failed,
                        "committing failed: a statement of the transaction had failed, so "
                        "PostgreSQL rolled it back; nothing of it was written");
    }
  }

  void rollback() noexcept {
    pending.clear();
    if (!on_server) return;
    try {
      conn->exec(inside_yours ? "ROLLBACK TO herald_yours; RELEASE herald_yours" : "ROLLBACK",
                 "rolling back");
    } catch (...) {
      // A broken connection rolled it back; the pool closes it.
    }
  }
};

// The open transactions by thread. Its lock is never held across the
// network or a wait for a pooled connection: only a thread's own entry is
// touched by that thread.
class transaction_table {
 public:
  std::shared_ptr<open_transaction> find(std::thread::id owner) {
    std::lock_guard lock(mutex_);
    auto it = open_.find(owner);
    return it == open_.end() ? nullptr : it->second;
  }
  void add(std::thread::id owner, std::shared_ptr<open_transaction> t) {
    std::lock_guard lock(mutex_);
    open_.emplace(owner, std::move(t));
  }
  std::shared_ptr<open_transaction> remove(std::thread::id owner) {
    std::lock_guard lock(mutex_);
    auto it = open_.find(owner);
    auto t = std::move(it->second);
    open_.erase(it);
    return t;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::thread::id, std::shared_ptr<open_transaction>> open_;
};

}  // namespace herald::detail::postgres
