// SPDX-License-Identifier: MIT
// rule_set matching allocates nothing per event once warm. Counts every
// operator new of this thread while a scope is open (the replacement is
// program-wide, but counts only where asked).
#include <cstdlib>
#include <herald/routing/rule_set.hpp>
#include <new>
#include <nlohmann/json.hpp>
#include <string>

#include "catch.hpp"

// Sanitizers bring their own operator new; the count is taken without them.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HERALD_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HERALD_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef HERALD_COUNT_ALLOCATIONS
#define HERALD_COUNT_ALLOCATIONS 1
#endif

namespace {
thread_local bool counting = false;
thread_local std::size_t allocations = 0;
}  // namespace

#if HERALD_COUNT_ALLOCATIONS
// GCC, seeing these inlined, takes the malloc/free pair for a mismatch with
// new/delete; it is the replacement itself.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) {
  if (counting) ++allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // HERALD_COUNT_ALLOCATIONS

TEST_CASE("rule_set: matching a warm rule set allocates nothing per event", "[routing][rule_set]") {
  herald::rule_set<int> rules;
  for (int i = 0; i < 200; ++i) {
    rules.add(herald::event_pattern::parse(R"({"type":["t)" + std::to_string(i % 20) +
                                           R"("],"data":{"n":[{"numeric":[">",)" +
                                           std::to_string(i) + "]}]}}"),
              i);
  }
  rules.add(herald::event_pattern::parse(R"({"data":{"n":[{"exists":true}]}})"), 1000);
  const auto event = nlohmann::json::parse(R"({"type":"t3","data":{"n":150}})");
  std::size_t matched = 0;
  rules.for_each_match(event, [&](int) { ++matched; });  // warms the per-thread buffers
  const std::size_t warm = matched;
  matched = 0;
  counting = true;
  allocations = 0;
  for (int round = 0; round < 100; ++round) rules.for_each_match(event, [&](int) { ++matched; });
  counting = false;
  CHECK(matched == 100 * warm);
  CHECK(warm > 1);
  if (HERALD_COUNT_ALLOCATIONS) {
    CHECK(allocations == 0);
  } else {
    WARN("allocations are not counted under a sanitizer (it owns operator new)");
  }
}
