// SPDX-License-Identifier: MIT
#include <atomic>
#include <herald/detail/bounded_ring.hpp>
#include <thread>
#include <vector>

#include "catch.hpp"

TEST_CASE("bounded_ring is FIFO and refuses a push when full", "[detail][ring]") {
  herald::detail::bounded_ring<int> ring(3);  // rounds up to 4
  CHECK(ring.capacity() == 4);
  CHECK_FALSE(ring.ready());
  for (int i = 0; i < 4; ++i) {
    int v = i;
    REQUIRE(ring.try_push(v));
  }
  int extra = 99;
  CHECK_FALSE(ring.try_push(extra));
  CHECK(extra == 99);
  CHECK(ring.ready());
  for (int i = 0; i < 4; ++i) {
    int v = -1;
    REQUIRE(ring.try_pop(v));
    CHECK(v == i);
  }
  int v;
  CHECK_FALSE(ring.try_pop(v));
}

TEST_CASE("bounded_ring passes every value exactly once between many threads", "[detail][ring]") {
  herald::detail::bounded_ring<int> ring(64);
  constexpr int producers = 3, per_producer = 30000;
  std::vector<std::atomic<int>> seen(producers * per_producer);
  std::atomic<int> consumed{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i) {
        int v = p * per_producer + i;
        while (!ring.try_push(v)) std::this_thread::yield();
      }
    });
  }
  for (int c = 0; c < 2; ++c) {
    threads.emplace_back([&] {
      int v;
      while (consumed.load() < producers * per_producer) {
        if (ring.try_pop(v)) {
          seen[static_cast<std::size_t>(v)]++;
          consumed++;
        } else {
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& s : seen) REQUIRE(s.load() == 1);
}
