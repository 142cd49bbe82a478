// SPDX-License-Identifier: MIT
#pragma once

// One include for the tests whether find_package found Catch2 v2 (Debian 12)
// or v3.
#if defined(HERALD_CATCH3)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif

#include <string>

namespace herald_test {

// Catch2 v3 renamed the substring matcher; tests use these names.
inline auto contains(const std::string& text) {
#if defined(HERALD_CATCH3)
  return Catch::Matchers::ContainsSubstring(text);
#else
  return Catch::Matchers::Contains(text);
#endif
}

inline auto starts_with(const std::string& text) { return Catch::Matchers::StartsWith(text); }

}  // namespace herald_test
