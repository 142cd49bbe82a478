// SPDX-License-Identifier: MIT
// A queue of a type that is not an event: the event check speaks first.
#include <herald/queue/queue.hpp>
#include <herald/store/memory_store.hpp>

struct job {
  int n = 0;
};

void misuse(herald::memory_store& store) {
  herald::queue<job, herald::memory_store> q(store, "jobs");
}
