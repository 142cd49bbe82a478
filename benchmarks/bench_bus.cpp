// SPDX-License-Identifier: MIT
// herald's bus against the baselines a C++ user would otherwise reach for.
// Run: build/benchmarks/bench_bus  (ratios print after the table)

#include <benchmark/benchmark.h>
#include <blockingconcurrentqueue.h>
#include <fmt/core.h>

#include <atomic>
#include <boost/signals2.hpp>
#include <functional>
#include <herald/bus/bus.hpp>
#include <herald/bus/thread_pool.hpp>
#include <herald/codec.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ratio_reporter.hpp"

namespace {

struct order_placed {
  static constexpr std::string_view event_type = "bench.order.placed";
  long order = 1;
  double total = 2.5;
};

template <int I>
struct other_event {
  static constexpr std::string_view event_type = "bench.other.event";
  int value = I;
};

long sink = 0;  // handlers write here so the calls cannot be optimized away

void handle(const order_placed& e) { sink += e.order; }

void BM_baseline_std_function(benchmark::State& state) {
  std::vector<std::function<void(const order_placed&)>> handlers;
  for (long i = 0; i < state.range(0); ++i)
    handlers.emplace_back([](const order_placed& e) { handle(e); });
  order_placed event;
  for (auto _ : state) {
    for (auto& h : handlers) h(event);
    benchmark::DoNotOptimize(sink);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_std_function)->Arg(1)->Arg(10);

void BM_baseline_signals2(benchmark::State& state) {
  boost::signals2::signal<void(const order_placed&)> signal;
  for (long i = 0; i < state.range(0); ++i)
    signal.connect([](const order_placed& e) { handle(e); });
  order_placed event;
  for (auto _ : state) {
    signal(event);
    benchmark::DoNotOptimize(sink);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_signals2)->Arg(1)->Arg(10);

// 50 other event types subscribed too, so that finding T's handlers is
// measured among many types, as in a real application.
template <class Bus, int... I>
std::vector<herald::subscription> subscribe_others(Bus& bus, std::integer_sequence<int, I...>) {
  std::vector<herald::subscription> subs;
  (subs.push_back(
       bus.template subscribe<other_event<I>>([](const other_event<I>& e) { sink += e.value; })),
   ...);
  return subs;
}

template <class Bus>
void publish_benchmark(benchmark::State& state) {
  Bus bus;
  auto others = subscribe_others(bus, std::make_integer_sequence<int, 50>{});
  std::vector<herald::subscription> subs;
  for (long i = 0; i < state.range(0); ++i) {
    subs.push_back(bus.template subscribe<order_placed>([](const order_placed& e) { handle(e); }));
  }
  order_placed event;
  for (auto _ : state) {
    bus.publish(event);
    benchmark::DoNotOptimize(sink);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_bus_publish(benchmark::State& state) { publish_benchmark<herald::bus>(state); }
BENCHMARK(BM_bus_publish)->Arg(1)->Arg(10);

void BM_local_bus_publish(benchmark::State& state) { publish_benchmark<herald::local_bus>(state); }
BENCHMARK(BM_local_bus_publish)->Arg(1)->Arg(10);

// A CloudEvent of about 1 KiB: the usual attributes and an order as data.
herald::envelope sample_envelope() {
  herald::envelope e;
  e.id = herald::new_id();
  e.source = "/shop/checkout/eu-west-1";
  e.type = "shop.order.placed";
  e.time = std::chrono::system_clock::now();
  e.subject = "order-2026-000042";
  e.datacontenttype = "application/json";
  e.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  e.correlationid = herald::new_id();
  e.causationid = herald::new_id();
  e.partitionkey = "customer-7";
  nlohmann::json lines = nlohmann::json::array();
  for (int i = 0; i < 8; ++i) {
    lines.push_back({{"sku", "SKU-" + std::to_string(1000 + i)},
                     {"name", "Item number " + std::to_string(i)},
                     {"quantity", i + 1},
                     {"price", 9.99 + i}});
  }
  e.data = {{"order_id", "2026-000042"},
            {"customer", {{"id", "customer-7"}, {"email", "ada@example.com"}}},
            {"currency", "EUR"},
            {"lines", lines},
            {"total", 123.45}};
  return e;
}

void BM_baseline_json_roundtrip(benchmark::State& state) {
  nlohmann::json event = nlohmann::json::parse(herald::encode_envelope(sample_envelope()));
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string text = event.dump();
    nlohmann::json back = nlohmann::json::parse(text);
    bytes = text.size();
    benchmark::DoNotOptimize(back);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_baseline_json_roundtrip);

void BM_envelope_roundtrip(benchmark::State& state) {
  herald::envelope event = sample_envelope();
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string text = herald::encode_envelope(event);
    herald::envelope back = herald::decode_envelope(text);
    bytes = text.size();
    benchmark::DoNotOptimize(back);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_envelope_roundtrip);

// Both async benchmarks push batches of 1000 and wait, spinning, until the
// consumer has handled the whole batch: the same work on both sides.
constexpr long batch = 1000;

void wait_for(const std::atomic<long>& consumed, long target) {
  while (consumed.load(std::memory_order_acquire) < target) {
  }
}

void BM_baseline_queue_1p1c(benchmark::State& state) {
  moodycamel::BlockingConcurrentQueue<order_placed> queue;
  std::atomic<long> consumed{0};
  std::atomic<bool> stop{false};
  std::thread consumer([&] {
    order_placed e;
    long count = 0;
    while (true) {
      if (queue.wait_dequeue_timed(e, std::chrono::milliseconds(5))) {
        handle(e);
        consumed.store(++count, std::memory_order_release);
      } else if (stop.load()) {
        return;
      }
    }
  });
  long target = 0;
  order_placed event;
  for (auto _ : state) {
    for (long i = 0; i < batch; ++i) queue.enqueue(event);
    wait_for(consumed, target += batch);
  }
  stop = true;
  consumer.join();
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_baseline_queue_1p1c)->UseRealTime();

void BM_bus_publish_async(benchmark::State& state) {
  herald::thread_pool pool(1);
  herald::bus_options options;
  options.async_executor = &pool;
  herald::bus bus(options);
  std::atomic<long> consumed{0};
  long count = 0;
  auto s = bus.subscribe<order_placed>([&](const order_placed& e) {
    handle(e);
    consumed.store(++count, std::memory_order_release);
  });
  long target = 0;
  order_placed event;
  for (auto _ : state) {
    for (long i = 0; i < batch; ++i) bus.publish_async(event);
    wait_for(consumed, target += batch);
  }
  bus.drain();
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_bus_publish_async)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  return herald_bench::run(
      argc, argv,
      {{"BM_local_bus_publish/1", "BM_baseline_std_function/1", 1.2},
       {"BM_local_bus_publish/10", "BM_baseline_std_function/10", 1.1},
       {"BM_bus_publish/1", "BM_baseline_std_function/1", 2.5},
       {"BM_bus_publish/10", "BM_baseline_std_function/10", 1.3},
       {"BM_bus_publish/1", "BM_baseline_signals2/1", 1.0 / 7.0},
       {"BM_envelope_roundtrip", "BM_baseline_json_roundtrip", 1.3},
       {"BM_bus_publish_async/real_time", "BM_baseline_queue_1p1c/real_time", 1.0 / 0.7}});
}
