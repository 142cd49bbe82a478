// SPDX-License-Identifier: MIT
// The floor for bus.cpp: a hand-written list of std::function handlers under a mutex.
#include <functional>
#include <mutex>
#include <string>
#include <vector>

struct user_signed_up {
  std::string email;
};

int signed_up() {
  std::mutex mutex;
  std::vector<std::function<void(const user_signed_up&)>> handlers;
  int seen = 0;
  {
    std::lock_guard lock(mutex);
    handlers.emplace_back([&](const user_signed_up&) { ++seen; });
  }
  const user_signed_up event{"ada@example.com"};
  std::lock_guard lock(mutex);
  for (auto& handler : handlers) handler(event);
  return seen;
}
