// SPDX-License-Identifier: MIT
#pragma once

// The stores the queue conformance suite runs against, and a job event.

#include <herald/store/memory_store.hpp>
#if HERALD_TEST_SQLITE  // set by tests/CMakeLists.txt when herald::sqlite exists
#include <herald/sqlite/sqlite_store.hpp>
#endif
#if HERALD_TEST_POSTGRES  // set by tests/CMakeLists.txt when herald::postgres exists
#include <herald/postgres/postgres_store.hpp>

#include "support/postgres_server.hpp"
#endif

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace herald_test {

struct job {
  static constexpr std::string_view event_type = "test.job.requested";
  int n = 0;
  std::string group;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(job, n, group)

// A database file path of its own, removed with its WAL files at the end.
class temp_db {
 public:
  explicit temp_db(std::string_view name = "queue") {
    static std::atomic<int> counter{0};
    path_ = (std::filesystem::temp_directory_path() /
             ("herald-" + std::string(name) + "-" + std::to_string(::getpid()) + "-" +
              std::to_string(counter.fetch_add(1)) + ".db"))
                .string();
    remove();
  }
  ~temp_db() { remove(); }
  temp_db(const temp_db&) = delete;
  temp_db& operator=(const temp_db&) = delete;

  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  void remove() const {
    std::error_code ignored;
    for (const char* suffix : {"", "-wal", "-shm", "-journal", "-reserve"}) {
      std::filesystem::remove(path_ + suffix, ignored);
    }
  }
  std::string path_;
};

struct memory_fixture {
  static constexpr const char* name = "memory";
  herald::memory_store store;
};

#if HERALD_TEST_SQLITE
struct sqlite_fixture {
  static constexpr const char* name = "sqlite";
  temp_db file;
  herald::sqlite_store store{file.path()};
};
#endif

#if HERALD_TEST_POSTGRES
// A store in a schema of its own on the test server, dropped at the end.
struct postgres_fixture {
  static constexpr const char* name = "postgres";
  postgres_schema schema;
  herald::postgres_store store{schema.url(), {.schema = schema.name()}};
};
#endif

}  // namespace herald_test

// Every store the conformance tests run over, for TEMPLATE_TEST_CASE.
#if HERALD_TEST_SQLITE && HERALD_TEST_POSTGRES
#define QUEUE_STORES \
  herald_test::memory_fixture, herald_test::sqlite_fixture, herald_test::postgres_fixture
#elif HERALD_TEST_SQLITE
#define QUEUE_STORES herald_test::memory_fixture, herald_test::sqlite_fixture
#elif HERALD_TEST_POSTGRES
#define QUEUE_STORES herald_test::memory_fixture, herald_test::postgres_fixture
#else
#define QUEUE_STORES herald_test::memory_fixture
#endif
