// SPDX-License-Identifier: MIT
#pragma once

// The server the PostgreSQL benchmarks run against, and a schema of their own.

#include <libpq-fe.h>
#include <unistd.h>

#include <cstdlib>
#include <herald/postgres/postgres_options.hpp>
#include <string>

namespace herald_bench {

inline const char* server() {
  for (const char* name : {"HERALD_BENCH_POSTGRES", "HERALD_TEST_POSTGRES"}) {
    if (const char* url = std::getenv(name); url && *url) return url;
  }
  return nullptr;
}

// A schema of its own for one benchmark, with herald's tables, dropped after.
class bench_schema {
 public:
  explicit bench_schema(const char* name)
      : name_(std::string("herald_bench_") + name + "_" + std::to_string(::getpid())) {
    exec(*this, "DROP SCHEMA IF EXISTS " + name_ + " CASCADE");
  }
  ~bench_schema() { exec(*this, "DROP SCHEMA IF EXISTS " + name_ + " CASCADE"); }
  bench_schema(const bench_schema&) = delete;
  bench_schema& operator=(const bench_schema&) = delete;
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] herald::postgres_options options() const {
    herald::postgres_options o;
    o.schema = name_;
    return o;
  }

 private:
  static void exec(const bench_schema&, const std::string& sql) {
    PGconn* c = PQconnectdb(server());
    PQsetNoticeProcessor(
        c, [](void*, const char*) {}, nullptr);
    PQclear(PQexec(c, sql.c_str()));
    PQfinish(c);
  }
  std::string name_;
};

}  // namespace herald_bench
