// SPDX-License-Identifier: MIT
#pragma once

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
};

}  // namespace herald
