// SPDX-License-Identifier: MIT
#include <atomic>
#include <herald/bus/bus.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "catch.hpp"

namespace {

struct ping {
  static constexpr std::string_view event_type = "test.net.ping";
  int n = 0;
};

struct pong {
  static constexpr std::string_view event_type = "test.net.pong";
  int n = 0;
};

}  // namespace

TEST_CASE("publishers and subscribers on many threads at once", "[bus][concurrency]") {
  herald::bus bus;
  std::atomic<long> stable_calls{0};
  auto stable = bus.subscribe<ping>([&](const ping&) { stable_calls++; });
  std::atomic<bool> stop{false};
  std::atomic<long> churn_calls{0};

  // Subscribers come and go while others publish; each churned handler owns
  // state whose use after free ASan or TSan would catch.
  std::vector<std::thread> churners;
  for (int t = 0; t < 2; ++t) {
    churners.emplace_back([&] {
      while (!stop.load()) {
        auto state = std::make_shared<std::vector<int>>(64, 1);
        auto s = bus.subscribe<ping>([state, &churn_calls](const ping& p) {
          churn_calls += (*state)[static_cast<std::size_t>(p.n % 64)];
        });
        auto q = bus.subscribe<pong>([state](const pong&) { (void)state->size(); });
      }
    });
  }
  constexpr int per_publisher = 20000;
  std::vector<std::thread> publishers;
  for (int t = 0; t < 3; ++t) {
    publishers.emplace_back([&] {
      for (int i = 0; i < per_publisher; ++i) {
        bus.publish(ping{i});
        if (i % 7 == 0) bus.publish(pong{i});
      }
    });
  }
  for (auto& t : publishers) t.join();
  stop = true;
  for (auto& t : churners) t.join();
  // The stable handler was subscribed throughout: it saw every publish.
  CHECK(stable_calls.load() == 3L * per_publisher);
  CHECK(bus.subscriber_count<ping>() == 1);
}

TEST_CASE("a subscriber added while others publish receives every later publish",
          "[bus][concurrency]") {
  herald::bus bus;
  std::atomic<bool> go{false};
  std::atomic<int> last_seen{-1};
  std::atomic<bool> ordered{true};
  std::thread publisher([&] {
    while (!go.load()) std::this_thread::yield();
    for (int i = 0; i < 50000; ++i) bus.publish(ping{i});
  });
  auto s = bus.subscribe<ping>([&](const ping& p) {
    // One publisher: what this handler sees must increase without gaps.
    int previous = last_seen.exchange(p.n);
    if (previous != -1 && previous + 1 != p.n) ordered = false;
  });
  go = true;
  publisher.join();
  CHECK(ordered.load());
  CHECK(last_seen.load() == 49999);
}

TEST_CASE("subscribe, publish and unsubscribe in a loop on several threads", "[bus][concurrency]") {
  herald::bus bus;
  std::vector<std::thread> threads;
  std::atomic<int> calls{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        auto s = bus.subscribe<pong>([&](const pong&) { ++calls; });
        bus.publish(pong{i});
        s.reset();
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(calls.load() >= 8000);  // each publish reached at least its own thread's handler
  CHECK(bus.subscriber_count<pong>() == 0);
}
