// SPDX-License-Identifier: MIT
#pragma once

// The PostgreSQL server the tests use: scripts/with-postgres starts a
// throwaway one and names it in HERALD_TEST_POSTGRES. Without it, outside
// CI, the tests that need it are skipped with one line (see main.cpp);
// under CI=true they fail.

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "support/ci.hpp"

namespace herald_test {

inline const char* postgres_env() {
  const char* url = std::getenv("HERALD_TEST_POSTGRES");
  return url && *url ? url : nullptr;
}

inline constexpr const char* postgres_missing =
    "no PostgreSQL for the tests: HERALD_TEST_POSTGRES is unset; run them through "
    "scripts/with-postgres (e.g. scripts/with-postgres ctest --preset dev), which starts a "
    "throwaway server on 127.0.0.1";

inline std::string postgres_url() {
  if (const char* url = postgres_env()) return url;
  throw std::runtime_error(postgres_missing);
}

// Runs SQL on a connection of its own; throws with the server's message.
inline void postgres_exec(const std::string& sql) {
  PGconn* c = PQconnectdb(postgres_url().c_str());
  std::string error;
  if (PQstatus(c) != CONNECTION_OK) {
    error = PQerrorMessage(c);
  } else {
    PQsetNoticeProcessor(
        c, [](void*, const char*) {}, nullptr);
    PGresult* r = PQexec(c, sql.c_str());
    const auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) error = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(c);
  if (!error.empty()) throw std::runtime_error("postgres: " + sql + ": " + error);
}

// A schema name of its own for one test, dropped with everything in it at the end.
class postgres_schema {
 public:
  postgres_schema() : url_(postgres_url()) {
    static std::atomic<int> counter{0};
    name_ = "herald_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    drop();
  }
  ~postgres_schema() {
    try {
      drop();
    } catch (...) {
      // the server is gone (a restart test): the next run's schema names differ
    }
  }
  postgres_schema(const postgres_schema&) = delete;
  postgres_schema& operator=(const postgres_schema&) = delete;

  [[nodiscard]] const std::string& url() const noexcept { return url_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

 private:
  void drop() const { postgres_exec("DROP SCHEMA IF EXISTS " + name_ + " CASCADE"); }
  std::string url_;
  std::string name_;
};

}  // namespace herald_test
