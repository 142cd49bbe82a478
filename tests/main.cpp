// SPDX-License-Identifier: MIT
#if !defined(HERALD_CATCH3)
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "support/ci.hpp"

#if HERALD_TEST_POSTGRES
#include "support/postgres_server.hpp"
#endif
#if HERALD_TEST_NATS
#include "support/nats_server.hpp"
#endif

// Catch2 2.13 cannot skip a test. Without a PostgreSQL or NATS server
// outside CI, the tests that need one are left out of a whole run with one
// line, and one asked for by name (as ctest does) exits with 77, which ctest
// reports as skipped. Under CI=true they run, and fail saying what is missing.
namespace {
using herald_test::under_ci;

// False if the run is to end with 77: it names only tests of a missing server.
[[maybe_unused]] bool leave_out(Catch::ConfigData& config, const char* server,
                                const char* missing) {
  const bool listing =
      config.listTests || config.listTestNamesOnly || config.listTags || config.listReporters;
  if (listing || under_ci()) return true;
  bool names_server = false;
  for (const auto& spec : config.testsOrTags) {
    names_server = names_server || spec.find(server) != std::string::npos;
  }
  std::fprintf(stderr, "SKIPPED: the %s tests: %s\n", server, missing);
  if (names_server) return false;
  // One filter for all the servers left out: within it, exclusions hold together (AND).
  static bool excluding = false;
  const std::string exclusion = std::string("~*") + server + "*";
  if (config.testsOrTags.empty()) {
    config.testsOrTags.push_back(exclusion);
    excluding = true;
  } else if (excluding) {
    config.testsOrTags.back() += " " + exclusion;
  }
  return true;
}
}  // namespace

int main(int argc, char* argv[]) {
  Catch::Session session;
  if (const int rc = session.applyCommandLine(argc, argv); rc != 0) return rc;
  auto& config = session.configData();
#if HERALD_TEST_POSTGRES
  if (!herald_test::postgres_env() &&
      !leave_out(config, "postgres", herald_test::postgres_missing)) {
    return 77;
  }
#endif
#if HERALD_TEST_NATS
  if (!herald_test::nats_env() && !leave_out(config, "nats", herald_test::nats_missing)) {
    return 77;
  }
#endif
  session.useConfigData(config);
  return session.run();
}
#endif
