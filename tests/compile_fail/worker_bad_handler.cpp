// SPDX-License-Identifier: MIT
// A worker handler that takes neither the event nor its message.
#include <herald/queue/worker.hpp>
#include <herald/store/memory_store.hpp>
#include <string>

struct job {
  static constexpr std::string_view event_type = "test.job.requested";
  int n = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(job, n)

void misuse(herald::queue<job, herald::memory_store>& q) {
  herald::worker<job, herald::memory_store> w(q, [](const std::string&) {});
}
