// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>      // users attached from any thread
#include <cstddef>     // the count of users
#include <cstdio>      // stderr, for the report before aborting
#include <cstdlib>     // std::abort
#include <functional>  // the unit of work

namespace herald {

/// Runs work on threads it owns. The bus posts one long-running drain task
/// per active delivery slot, not one task per message, so an executor's own
/// queue stays short. Implement it to run herald on your own threads.
class executor {
 public:
  virtual ~executor() = default;

  /// Runs `work` later on one of the executor's threads. Throws
  /// herald::error (stopped) once the executor no longer accepts work.
  virtual void post(std::function<void()> work) = 0;

  /// A user (a bus) attaches for as long as it may post, and detaches when
  /// it no longer can. Any thread may call them.
  void attach() noexcept { users_.fetch_add(1, std::memory_order_relaxed); }
  void detach() noexcept { users_.fetch_sub(1, std::memory_order_release); }
  [[nodiscard]] std::size_t users() const noexcept {
    return users_.load(std::memory_order_acquire);
  }

 protected:
  /// Call first in the destructor of an executor: a user still attached
  /// would post into freed memory later, so stop here, saying so.
  void require_no_users(const char* name) const noexcept {
    if (const std::size_t n = users(); n != 0) {
      std::fprintf(stderr,
                   "herald: a %s was destroyed while %zu bus(es) still use it as their "
                   "async_executor; destroy the buses first (declare the executor before them)\n",
                   name, n);
      std::abort();
    }
  }

 private:
  std::atomic<std::size_t> users_{0};
};

}  // namespace herald
