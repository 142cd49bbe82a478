// SPDX-License-Identifier: MIT
// Bus churn for the sanitizers: publishers, subscribers and routes coming and
// going, async deliveries, and subscriptions that outlive their bus, all at
// once for HERALD_STRESS_SECONDS (1 by default; .ci/run runs longer under
// ASan+UBSan and TSan). A use after free, a data race or a lost delivery fails it.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <herald/bus/bus.hpp>
#include <herald/bus/thread_pool.hpp>
#include <herald/routing/route.hpp>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"

// Named, not anonymous: clang flags the unused from_json of an internal type.
namespace bus_stress {

struct sample {
  static constexpr std::string_view event_type = "stress.sample.taken";
  int n = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(sample, n)

struct other {
  static constexpr std::string_view event_type = "stress.other.happened";
  int n = 0;
};

std::chrono::steady_clock::time_point stress_deadline() {
  const char* text = std::getenv("HERALD_STRESS_SECONDS");
  const int seconds = text ? std::atoi(text) : 1;
  return std::chrono::steady_clock::now() + std::chrono::seconds(seconds > 0 ? seconds : 1);
}

}  // namespace bus_stress
using namespace bus_stress;

TEST_CASE("bus churn: publishes, subscriptions, routes and buses coming and going at once",
          "[bus][stress][reliability]") {
  herald::thread_pool pool(2);
  herald::bus_options options;
  options.async_executor = &pool;
  options.on_error = [](const herald::handler_failure&) {};
  herald::bus bus(options);
  std::atomic<long> stable_seen{0}, async_seen{0};
  auto stable = bus.subscribe<sample>([&](const sample&) { stable_seen.fetch_add(1); });
  auto async_counter = bus.subscribe<other>([&](const other&) { async_seen.fetch_add(1); });

  const auto deadline = stress_deadline();
  std::atomic<bool> stop{false};
  std::atomic<long> published{0}, published_async{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < 2; ++p) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        bus.publish(sample{1});
        published.fetch_add(1);
        bus.publish_async(other{2});
        published_async.fetch_add(1);
      }
    });
  }
  threads.emplace_back([&] {  // handlers owning state, subscribed and removed
    while (!stop.load()) {
      auto state = std::make_shared<std::vector<int>>(32, 1);
      auto s = bus.subscribe<sample>(
          [state](const sample& e) { (void)(*state)[static_cast<std::size_t>(e.n)]; });
    }
  });
  threads.emplace_back([&] {  // routes, added and removed
    int i = 0;
    while (!stop.load()) {
      auto state = std::make_shared<std::string>("route");
      auto r = bus.route(R"({"data": {"n": [)" + std::to_string(i++ % 3) + "]}}",
                         [state](const nlohmann::json&) { (void)state->size(); });
    }
  });
  threads.emplace_back([&] {  // buses whose subscriptions outlive them, reset on another thread
    while (!stop.load()) {
      auto short_lived = std::make_shared<std::optional<herald::bus>>(std::in_place);
      std::vector<herald::subscription> subscriptions;
      for (int k = 0; k < 8; ++k) {
        subscriptions.push_back((*short_lived)->subscribe<sample>([](const sample&) {}));
      }
      subscriptions.push_back(
          (*short_lived)
              ->route(R"({"type": ["stress.sample.taken"]})", [](const herald::envelope&) {}));
      std::thread resetter([&] {
        for (auto& s : subscriptions) s.reset();
      });
      (*short_lived)->publish(sample{0});
      short_lived->reset();
      resetter.join();
    }
  });
  while (std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop = true;
  for (auto& t : threads) t.join();
  bus.drain();
  CHECK(stable_seen.load() == published.load());
  CHECK(async_seen.load() == published_async.load());
}
