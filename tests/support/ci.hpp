// SPDX-License-Identifier: MIT
#pragma once

// Whether the tests run under CI, where a server a test needs must be there:
// outside CI a missing one is skipped with one line (see main.cpp).

#include <cstdlib>
#include <string>

namespace herald_test {

inline bool under_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

}  // namespace herald_test
