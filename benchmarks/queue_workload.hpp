// SPDX-License-Identifier: MIT
#pragma once

// What the queue benchmarks of every store share: the message, the clock
// reading, and the started-worker workload.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <herald/queue/queue.hpp>
#include <herald/queue/worker.hpp>
#include <herald/runtime/metrics.hpp>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace herald_bench {

struct resized {
  static constexpr std::string_view event_type = "media.image.resize";
  std::string image = "uploads/2026/11/23/cat-0001.jpg";
  int width = 640;
  int height = 480;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(resized, image, width, height)

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A started worker with `concurrency` (and `prefetch`), a no-op handler, and 20,000 messages
// sent beforehand (not timed): the time until all are acked (stop() flushes
// the last settlements).
template <class Store>
void worker_throughput(benchmark::State& state, Store& store, std::size_t concurrency,
                       herald::metrics_registry* metrics = nullptr, int messages = 20'000,
                       std::optional<std::size_t> prefetch = std::nullopt) {
  herald::queue<resized, Store> q(store, "images");
  std::vector<resized> chunk(1000);
  std::mutex mutex;
  std::condition_variable all_done;
  int handled = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (int sent = 0; sent < messages; sent += 1000) {
      q.send_batch(
          std::span(chunk).first(static_cast<std::size_t>(std::min(1000, messages - sent))));
    }
    handled = 0;
    herald::worker_options options;
    options.concurrency = concurrency;
    options.prefetch = prefetch;
    options.metrics = metrics;
    herald::worker w(
        q,
        [&](const resized&) {
          std::lock_guard lock(mutex);
          if (++handled == messages) all_done.notify_one();
        },
        options);
    state.ResumeTiming();
    w.start();
    {
      std::unique_lock lock(mutex);
      all_done.wait(lock, [&] { return handled == messages; });
    }
    w.stop();
    state.PauseTiming();
    if (q.stats().depth + q.stats().in_flight != 0) state.SkipWithError("not all were acked");
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * messages);
}

}  // namespace herald_bench
