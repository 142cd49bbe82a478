// SPDX-License-Identifier: MIT
// A queue of an event without to_json/from_json.
#include <herald/queue/queue.hpp>
#include <herald/store/memory_store.hpp>

struct job {
  static constexpr std::string_view event_type = "test.job.requested";
  int n = 0;
};

void misuse(herald::memory_store& store) {
  herald::queue<job, herald::memory_store> q(store, "jobs");
}
