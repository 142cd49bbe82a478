// SPDX-License-Identifier: MIT
#pragma once

// A call that must be refused as misuse, saying why.

#include <herald/error.hpp>
#include <string>

#include "catch.hpp"

namespace herald_test {

// Runs `use`, which must throw herald::error with errc::invalid_argument and
// a message that contains `words`.
template <class Use>
void check_invalid(Use&& use, const std::string& words) {
  INFO(words);
  try {
    use();
    FAIL("accepted");
  } catch (const herald::error& e) {
    CHECK(e.code() == herald::errc::invalid_argument);
    CHECK_THAT(e.what(), Catch::Contains(words));
  }
}

}  // namespace herald_test
