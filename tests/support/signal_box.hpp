// SPDX-License-Identifier: MIT
#pragma once

// A count that tests wait on with a generous deadline, never a sleep.

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace herald_test {

class signal_box {
 public:
  void bump() {
    std::lock_guard lock(mutex_);
    ++count_;
    changed_.notify_all();
  }
  bool wait_for_count(int n, std::chrono::seconds limit = std::chrono::seconds(30)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return count_ >= n; });
  }
  int count() {
    std::lock_guard lock(mutex_);
    return count_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int count_ = 0;
};

}  // namespace herald_test
