// SPDX-License-Identifier: MIT
#pragma once

// The NATS server the tests use: scripts/with-nats starts a throwaway one
// with JetStream and names it in HERALD_TEST_NATS. Without it, outside CI,
// the tests that need it are skipped with one line (see main.cpp); under
// CI=true they fail.

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace herald_test {

inline const char* nats_env() {
  const char* url = std::getenv("HERALD_TEST_NATS");
  return url && *url ? url : nullptr;
}

inline constexpr const char* nats_missing =
    "no NATS server for the tests: HERALD_TEST_NATS is unset; run them through scripts/with-nats "
    "(e.g. scripts/with-nats ctest --preset dev), which starts a throwaway nats-server -js on "
    "127.0.0.1";

inline std::string nats_url() {
  if (const char* url = nats_env()) return url;
  throw std::runtime_error(nats_missing);
}

// A prefix of its own for one test's streams and subjects, so tests and
// runs on one server never see each other's messages.
inline std::string nats_unique(const std::string& what) {
  static std::atomic<int> counter{0};
  return what + std::to_string(::getpid()) + "x" + std::to_string(counter++);
}

}  // namespace herald_test
