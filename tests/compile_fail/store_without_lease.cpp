// SPDX-License-Identifier: MIT
// A would-be queue store that lacks one member: the error names it.
#include <herald/queue/queue.hpp>
#include <herald/store/memory_store.hpp>
#include <nlohmann/json.hpp>

struct job {
  static constexpr std::string_view event_type = "test.job.requested";
  int n = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(job, n)

// Everything memory_store has, but lease() hidden.
struct no_lease_store : private herald::memory_store {
  using queue_store_concept = herald::queue_store_tag;
  using transaction = herald::memory_store::transaction;
  using memory_store::ack;
  using memory_store::begin;
  using memory_store::dead_letter;
  using memory_store::dead_letters;
  using memory_store::enqueue;
  using memory_store::extend;
  using memory_store::purge_dead_letters;
  using memory_store::redrive;
  using memory_store::retry;
  using memory_store::stats;
};

void misuse(no_lease_store& store) { herald::queue<job, no_lease_store> q(store, "jobs"); }
