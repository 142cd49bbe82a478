// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>      // watch tokens
#include <functional>   // what a watcher is woken with
#include <map>          // watchers by token
#include <mutex>        // sends and workers on many threads
#include <string>       // queue names
#include <string_view>  // lookups
#include <utility>      // std::move
#include <vector>       // the queues watched

namespace herald {

/// A store's "something arrived in queue q" for workers in this process, so
/// that an idle worker leases at once instead of at its next poll. Stores
/// that offer it return one from `arrivals()`; a store shared with other
/// processes may also raise it for their sends (PostgreSQL: LISTEN/NOTIFY).
/// A wake may be spurious (a send that rolled back): the worker then finds
/// nothing and waits again. Any thread may call any member.
class arrival_signal {
 public:
  using token = std::uint64_t;

  /// Calls `wake` after each send to `queue` until unwatch(token). `wake`
  /// runs on the sending thread: it must be quick and must not call the store.
  token watch(std::string queue, std::function<void()> wake) {
    std::function<void()> hook;
    token t = 0;
    {
      std::lock_guard lock(mutex_);
      watchers_.emplace(++last_, watcher{std::move(queue), std::move(wake)});
      t = last_;
      hook = on_watch_;
    }
    if (hook) hook();
    return t;
  }

  /// After it returns, the watcher is not called again.
  void unwatch(token t) {
    std::lock_guard lock(mutex_);
    watchers_.erase(t);
  }

  /// The queues watched now, each once.
  [[nodiscard]] std::vector<std::string> watched() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [t, w] : watchers_) {
      bool seen = false;
      for (const auto& q : out) seen = seen || q == w.queue;
      if (!seen) out.push_back(w.queue);
    }
    return out;
  }

  /// For the store: `hook` runs (on the watching thread, without the
  /// signal's lock) after each watch(), so that a store shared with other
  /// processes starts listening for that queue.
  void on_watch(std::function<void()> hook) {
    std::lock_guard lock(mutex_);
    on_watch_ = std::move(hook);
  }

  void notify(std::string_view queue) {
    std::lock_guard lock(mutex_);
    for (auto& [t, w] : watchers_) {
      if (w.queue == queue) w.wake();
    }
  }

 private:
  struct watcher {
    std::string queue;
    std::function<void()> wake;
  };
  mutable std::mutex mutex_;
  std::map<token, watcher> watchers_;
  std::function<void()> on_watch_;
  token last_ = 0;
};

}  // namespace herald
