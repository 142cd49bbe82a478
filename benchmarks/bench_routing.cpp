// SPDX-License-Identifier: MIT
// Content-based routing: one pattern, and many rules at once against the
// baseline of matching the same patterns one by one.
// Run: build/release/benchmarks/bench_routing  (ratios print after the table)

#include <benchmark/benchmark.h>

#include <herald/bus/bus.hpp>
#include <herald/routing/event_pattern.hpp>
#include <herald/routing/route.hpp>
#include <herald/routing/rule_set.hpp>
#include <herald/topic/topic.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ratio_reporter.hpp"

namespace {

// A smart-home reading of about 1 KiB in CloudEvents structured form.
nlohmann::json sample_event() {
  nlohmann::json history = nlohmann::json::array();
  for (int i = 0; i < 12; ++i)
    history.push_back(
        {{"at", "2026-11-23T10:" + std::to_string(10 + i) + ":00Z"}, {"celsius", 20.5 + i}});
  return {{"specversion", "1.0"},
          {"id", "0190f5c8-7e3a-7b2c-9d4e-5f6a7b8c9d0e"},
          {"source", "/home/kitchen/sensor-7"},
          {"type", "home.sensor.temperature"},
          {"time", "2026-11-23T10:15:00Z"},
          {"subject", "sensor-7"},
          {"data",
           {{"device", "sensor-7"},
            {"room", "kitchen"},
            {"celsius", 31.5},
            {"battery", 87},
            {"ip", "10.0.4.17"},
            {"firmware", "2.4.1"},
            {"history", history}}}};
}

// Rule i watches one device: realistic rules name what they are about.
std::string rule_json(int i) {
  return R"({"type":["home.sensor.temperature"],"source":[{"prefix":"/home/"}],"data":{"device":["sensor-)" +
         std::to_string(i) + R"("],"celsius":[{"numeric":[">=",)" + std::to_string(20 + i % 15) +
         R"(]}],"room":[{"anything-but":"garage"}]}})";
}

void BM_pattern_match(benchmark::State& state) {
  auto pattern = herald::event_pattern::parse(std::string_view(
      R"({"type":["home.sensor.temperature"],"source":[{"prefix":"/home/kitchen"}],
          "data":{"celsius":[{"numeric":[">=",30]}],"room":[{"anything-but":"garage"}],
                  "ip":[{"cidr":"10.0.0.0/16"}]}})"));
  auto event = sample_event();
  for (auto _ : state) {
    bool matched = pattern.matches(event);
    benchmark::DoNotOptimize(matched);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_pattern_match);

void BM_rule_set_match(benchmark::State& state) {
  herald::rule_set<int> rules;
  for (int i = 0; i < state.range(0); ++i) rules.add(herald::event_pattern::parse(rule_json(i)), i);
  auto event = sample_event();
  std::size_t matched = 0;
  for (auto _ : state) {
    matched = 0;
    rules.for_each_match(event, [&](int) { ++matched; });
    benchmark::DoNotOptimize(matched);
  }
  if (matched != 1) state.SkipWithError("expected exactly one matching rule");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_rule_set_match)->Arg(10)->Arg(100)->Arg(1000);

void BM_baseline_pattern_loop(benchmark::State& state) {
  std::vector<herald::event_pattern> patterns;
  for (int i = 0; i < state.range(0); ++i)
    patterns.push_back(herald::event_pattern::parse(rule_json(i)));
  auto event = sample_event();
  std::size_t matched = 0;
  for (auto _ : state) {
    matched = 0;
    for (const auto& p : patterns) matched += p.matches(event) ? 1 : 0;
    benchmark::DoNotOptimize(matched);
  }
  if (matched != 1) state.SkipWithError("expected exactly one matching rule");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_pattern_loop)->Arg(10)->Arg(100)->Arg(1000);

// Adding and removing one route on a bus that holds N: what subscribing
// costs while many routes exist (every change used to copy them all).
void BM_bus_route_add_remove(benchmark::State& state) {
  herald::bus bus;
  std::vector<herald::subscription> held;
  for (int i = 0; i < state.range(0); ++i) {
    held.push_back(
        bus.route(herald::event_pattern::parse(rule_json(i)), [](const nlohmann::json&) {}));
  }
  int i = 0;
  for (auto _ : state) {
    auto s = bus.route(herald::event_pattern::parse(rule_json(i++)), [](const nlohmann::json&) {});
    s.reset();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_bus_route_add_remove)->Arg(10)->Arg(1000)->Arg(10000);

struct reading {
  static constexpr std::string_view event_type = "home.sensor.temperature";
  std::string device;
  double celsius = 0;
};
void to_json(nlohmann::json& j, const reading& r) {
  j = {{"device", r.device}, {"celsius", r.celsius}};
}
void from_json(const nlohmann::json& j, reading& r) {
  j.at("device").get_to(r.device);
  j.at("celsius").get_to(r.celsius);
}

// Publish through a topic on the in-process transport to N fan-out
// subscribers: one encode, N decodes.
void BM_topic_publish_inproc(benchmark::State& state) {
  herald::inproc_transport transport;
  herald::topic<reading> readings(transport, "home.readings");
  double sum = 0;
  std::vector<herald::subscription> subs;
  for (int i = 0; i < state.range(0); ++i) {
    subs.push_back(readings.subscribe([&](const reading& r) { sum += r.celsius; }));
  }
  reading r{"sensor-7", 21.5};
  for (auto _ : state) {
    readings.publish(r);
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_topic_publish_inproc)->Arg(1)->Arg(10);

}  // namespace

int main(int argc, char** argv) {
  return herald_bench::run(argc, argv,
                           {{"BM_rule_set_match/1000", "BM_baseline_pattern_loop/1000", 1.0 / 20.0},
                            {"BM_rule_set_match/1000", "BM_rule_set_match/10", 5.0}});
}
