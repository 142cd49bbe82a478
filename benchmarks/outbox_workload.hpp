// SPDX-License-Identifier: MIT
#pragma once

// What the outbox benchmarks stage and relay, on every store.

#include <benchmark/benchmark.h>

#include <chrono>
#include <herald/codec.hpp>
#include <herald/id.hpp>
#include <herald/outbox/outbox.hpp>
#include <herald/outbox/relay.hpp>
#include <herald/topic/topic.hpp>
#include <herald/transport/inproc.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace herald_bench {

struct order_placed {
  static constexpr std::string_view event_type = "bench.order.placed";
  long order = 0;
  std::string customer;
  double total = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order_placed, order, customer, total)

inline constexpr long relay_batch = 100;  // what each relay round reads and marks
inline constexpr long relayed_per_iteration = 1000;

// An event encoded as outbox::stage encodes it, attributes filled.
inline std::string encoded(const order_placed& e) {
  herald::message<order_placed> m(e);
  m.id = herald::new_id();
  m.source = "/herald/outbox";
  m.type = std::string(order_placed::event_type);
  m.time = std::chrono::system_clock::now();
  return herald::encode(m);
}

// Stages relayed_per_iteration events over 64 keys in one transaction.
template <class Store>
void stage_many(Store& store, herald::outbox<Store>& box, long& n) {
  auto tx = store.begin();
  for (long i = 0; i < relayed_per_iteration; ++i) {
    const std::string key = "customer-" + std::to_string(++n % 64);
    box.stage(tx, order_placed{n, key, 10.0}, {.key = key});
  }
  tx.commit();
}

// BM_relay_throughput on `store`: relayed_per_iteration committed events per
// iteration to an in-process topic with one subscriber, marked sent
// (retention on, as the raw loops mark rather than delete).
template <class Store>
void relay_throughput(benchmark::State& state, Store& store) {
  herald::outbox<Store> box(store, {.destination = "orders"});
  herald::inproc_transport transport;
  herald::topic<order_placed> topic(transport, "orders");
  long received = 0;
  auto sub = topic.subscribe([&](const order_placed&) { ++received; });
  herald::relay_options options;
  options.batch = relay_batch;
  options.retention = std::chrono::hours(1);
  herald::relay relay(box, herald::to_transport(transport), options);
  long n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    stage_many(store, box, n);
    state.ResumeTiming();
    const auto now = std::chrono::system_clock::now();
    while (relay.run_once(now) > 0) {
    }
  }
  if (received != n) state.SkipWithError("the relay lost messages");
  state.SetItemsProcessed(state.iterations() * relayed_per_iteration);
}

}  // namespace herald_bench
