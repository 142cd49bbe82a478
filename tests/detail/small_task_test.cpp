// SPDX-License-Identifier: MIT
#include <array>
#include <herald/detail/small_task.hpp>
#include <memory>

#include "catch.hpp"

TEST_CASE("small_task runs small and large callables and frees them once", "[detail][task]") {
  auto token = std::make_shared<int>(0);
  int runs = 0;
  {
    herald::detail::small_task small([token, &runs] { ++runs; });
    std::array<char, 200> big_state{};
    herald::detail::small_task big([token, big_state, &runs] { runs += 1 + big_state[0]; });
    CHECK(token.use_count() == 3);
    herald::detail::small_task moved = std::move(small);
    CHECK_FALSE(small);  // NOLINT(bugprone-use-after-move): the point of the test
    moved();
    big();
    herald::detail::small_task assigned;
    assigned = std::move(big);
    assigned();
    CHECK(runs == 3);
    assigned.reset();
    CHECK(token.use_count() == 2);
  }
  CHECK(token.use_count() == 1);
}

TEST_CASE("small_task holds a move-only callable", "[detail][task]") {
  auto owned = std::make_unique<int>(41);
  herald::detail::small_task task([p = std::move(owned)] { ++*p; });
  herald::detail::small_task other = std::move(task);
  other();
  SUCCEED();
}
