// SPDX-License-Identifier: MIT
#pragma once

#include <condition_variable>  // work to do
#include <functional>          // how to connect and name channels
#include <memory>              // the connection
#include <mutex>               // the queues to announce
#include <set>                 // ... each once
#include <string>              // channels
#include <string_view>         // queue names
#include <thread>              // the notifying thread
#include <utility>             // std::swap

#include "herald/error.hpp"
#include "herald/postgres/detail/connection.hpp"
#include "herald/postgres/detail/names.hpp"
#include "herald/runtime/failure.hpp"

namespace herald::detail::postgres {

// Tells other processes' listeners that queues got messages, after the
// sends committed, on a connection of its own. A NOTIFY inside the send's
// transaction would make every commit take PostgreSQL's global notify lock
// (sends measured at half the rate); from here, sends that commit while one
// round of NOTIFYs is out are announced together in the next, one per
// queue. If the process dies first, the listeners' workers find the
// messages at their next poll.
class notifier {
 public:
  struct hooks {
    std::function<std::unique_ptr<connection>()> open;
    std::function<std::string(std::string_view queue)> channel_of;
  };

  notifier(hooks h, failure_sink* failures, std::string schema)
      : hooks_(std::move(h)), failures_(failures), schema_(std::move(schema)) {}
  notifier(const notifier&) = delete;
  notifier& operator=(const notifier&) = delete;
  ~notifier() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    work_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

  // Announces `queue` soon; started by the first.
  void post(std::string_view queue) {
    {
      std::lock_guard lock(mutex_);
      due_.emplace(queue);
      if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    }
    work_.notify_one();
  }

 private:
  void run() noexcept {
    std::unique_ptr<connection> conn;
    bool reported = false;
    for (;;) {
      std::set<std::string> queues;
      {
        std::unique_lock lock(mutex_);
        work_.wait(lock, [&] { return stopping_ || !due_.empty(); });
        if (due_.empty()) return;  // stopping, and all announced
        std::swap(queues, due_);
      }
      try {
        notify(conn, queues);
        reported = false;
      } catch (const std::exception& e) {
        conn.reset();  // reopened for the next round; workers poll meanwhile
        if (!reported) {
          report_failure(failures_,
                         {failure_kind::store_failed,
                          "postgres store",
                          schema_,
                          errc::storage_unavailable,
                          {},
                          0,
                          std::string("telling other processes of new messages failed (") +
                              e.what() + "); their workers find them at their poll_interval"});
        }
        reported = true;
      }
    }
  }

  // One round of NOTIFYs. A connection that broke while idle (a server
  // restart, a proxy's idle timeout) fails only when used: the round is then
  // sent again on a fresh one, or this round's wake-ups would be lost and
  // the listeners' workers would wait for their poll_interval.
  void notify(std::unique_ptr<connection>& conn, const std::set<std::string>& queues) {
    std::string sql;
    for (const auto& q : queues) sql += "NOTIFY " + quote_identifier(hooks_.channel_of(q)) + ";";
    if (conn) {
      try {
        conn->exec(sql, "notifying other processes");
        return;
      } catch (const store_error&) {
        if (conn->healthy()) throw;  // the server refused the statement: not a broken link
        conn.reset();
      }
    }
    conn = hooks_.open();
    conn->exec(sql, "notifying other processes");
  }

  hooks hooks_;
  failure_sink* failures_;
  std::string schema_;
  std::mutex mutex_;
  std::condition_variable work_;
  std::set<std::string> due_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace herald::detail::postgres
