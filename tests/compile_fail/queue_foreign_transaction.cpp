// SPDX-License-Identifier: MIT
// A SQLite transaction given to a queue on a memory store: it could not hold the message.
#include <herald/queue/queue.hpp>
#include <herald/store/memory_store.hpp>
#include <nlohmann/json.hpp>

struct job {
  static constexpr std::string_view event_type = "test.job";
  int n = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(job, n)

struct other_transaction {
  void commit() {}
};

void misuse(herald::memory_store& store) {
  herald::queue<job, herald::memory_store> q(store, "jobs");
  other_transaction tx;
  q.send(tx, job{});
}
