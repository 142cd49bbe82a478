// SPDX-License-Identifier: MIT
#pragma once

// A connection of the test's own to the test server: another process's, or
// the application's own when the store joins it.

#include <libpq-fe.h>

#include <string>

#include "catch.hpp"
#include "support/postgres_server.hpp"

namespace herald_test {

class postgres_connection {
 public:
  postgres_connection() : c_(PQconnectdb(postgres_url().c_str())) {
    REQUIRE(PQstatus(c_) == CONNECTION_OK);
    PQsetNoticeProcessor(
        c_, [](void*, const char*) {}, nullptr);
  }
  ~postgres_connection() { PQfinish(c_); }
  postgres_connection(const postgres_connection&) = delete;
  postgres_connection& operator=(const postgres_connection&) = delete;

  [[nodiscard]] PGconn* get() const noexcept { return c_; }

  // Runs `sql`, which must succeed; its first value, or "" for none.
  std::string scalar(const std::string& sql) {
    std::string out;
    const bool ok = run(sql, out);
    INFO(sql << ": " << PQerrorMessage(c_));
    REQUIRE(ok);
    return out;
  }

  // Whether `sql` succeeded.
  bool try_exec(const std::string& sql) {
    std::string ignored;
    return run(sql, ignored);
  }

 private:
  bool run(const std::string& sql, std::string& first) {
    PGresult* r = PQexec(c_, sql.c_str());
    const auto status = PQresultStatus(r);
    const bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    if (ok && PQntuples(r) > 0) first = PQgetvalue(r, 0, 0);
    PQclear(r);
    return ok;
  }
  PGconn* c_;
};

}  // namespace herald_test
