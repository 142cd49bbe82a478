// SPDX-License-Identifier: MIT
#pragma once

#include <condition_variable>  // idle workers sleep
#include <cstddef>             // thread count
#include <cstdio>              // stderr for a task that throws
#include <deque>               // pending tasks
#include <exception>           // what a task throws
#include <functional>          // tasks
#include <mutex>               // guards the task deque
#include <stop_token>          // graceful stop
#include <string>              // reports
#include <thread>              // std::jthread
#include <vector>              // the workers

#include "herald/bus/executor.hpp"
#include "herald/error.hpp"
#include "herald/runtime/failure.hpp"

namespace herald {

/// A fixed set of threads that run posted work in FIFO order. Created by the
/// user (herald starts no thread on its own). Any thread may post. stop() or
/// the destructor finishes every task already posted, then joins.
class thread_pool final : public executor {
 public:
  /// Starts `threads` worker threads (at least one). A task that throws is
  /// reported to `failures` (null: one line on stderr) and the pool goes on.
  explicit thread_pool(std::size_t threads = 1, failure_sink* failures = nullptr)
      : failures_(failures) {
    if (threads == 0) {
      throw error(errc::invalid_argument, "thread_pool needs at least one thread, got 0");
    }
    workers_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i) {
      workers_.emplace_back([this](std::stop_token stop) { work(stop); });
    }
  }

  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  ~thread_pool() override {
    require_no_users("herald::thread_pool");
    stop();
  }

  void post(std::function<void()> task) override {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) {
        throw error(errc::stopped,
                    "thread_pool is stopping and accepts no more work; post "
                    "before stop() or destroy the users of the pool first");
      }
      tasks_.push_back(std::move(task));
    }
    ready_.notify_one();
  }

  /// Runs what was posted, refuses new work, and joins the threads. Idempotent;
  /// must not be called from one of the pool's own threads.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (stopping_ && workers_.empty()) return;
      stopping_ = true;
    }
    for (auto& worker : workers_) worker.request_stop();
    ready_.notify_all();
    workers_.clear();  // jthread joins
  }

  [[nodiscard]] std::size_t size() const noexcept { return workers_.size(); }

 private:
  void work(std::stop_token stop) {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        // stopping_, set under the lock, and not only the stop token, which
        // stop() requests without it: a request that fell between this check
        // and the wait would be a lost wake-up, and stop() would join forever.
        ready_.wait(lock, [&] { return !tasks_.empty() || stopping_ || stop.stop_requested(); });
        if (tasks_.empty()) return;  // stop requested and nothing left: drained
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      try {
        task();
      } catch (...) {
        const auto caught = std::current_exception();
        const std::string text = "a task threw and was abandoned: " + detail::what_of(caught);
        detail::report_failure(failures_, {failure_kind::handler_threw,
                                           "thread_pool",
                                           "",
                                           detail::code_of(caught),
                                           {},
                                           0,
                                           text,
                                           std::nullopt});
      }
    }
  }

  failure_sink* failures_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::jthread> workers_;
};

}  // namespace herald
