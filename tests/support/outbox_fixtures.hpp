// SPDX-License-Identifier: MIT
#pragma once

// The stores the outbox conformance suite runs against: each gives a
// business table written in the same transaction as the outbox, and a second
// store object on the same data (a second instance of a service).

#include <herald/runtime/metrics.hpp>
#include <herald/store/memory_outbox.hpp>
#if HERALD_TEST_SQLITE
#include <herald/sqlite/sqlite_outbox.hpp>
#endif
#if HERALD_TEST_POSTGRES
#include <herald/postgres/postgres_outbox.hpp>
#endif

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "support/queue_fixtures.hpp"

namespace herald_test {

struct order_placed {
  static constexpr std::string_view event_type = "test.order.placed";
  std::string key;
  int n = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order_placed, key, n)

// A series' value, or -1 if there is none.
inline double metric_value(herald::metrics_registry& registry, std::string_view name,
                           const herald::metric_labels& labels) {
  double value = -1;
  registry.visit([&](std::string_view n, std::string_view, herald::metric_type,
                     const herald::metric_series& s) {
    if (n == name && s.labels() == labels) value = s.value();
  });
  return value;
}

struct memory_outbox_fixture {
  static constexpr const char* name = "memory";
  herald::memory_store store;
  std::vector<int> rows;  // the "business table", rolled back with the store

  void write_business_row(herald::memory_store::transaction& tx, int n) {
    rows.push_back(n);
    store.on_rollback(tx, [this] { rows.pop_back(); });
  }
  std::size_t business_rows() const { return rows.size(); }
  // One process: a second instance shares the store.
  std::nullptr_t another_store() { return nullptr; }
};
inline herald::memory_store& store_of(std::nullptr_t, herald::memory_store& first) { return first; }

#if HERALD_TEST_SQLITE
inline void exec(sqlite3* db, const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string why = error ? error : "unknown";
    sqlite3_free(error);
    throw std::runtime_error("sqlite: " + why + " in: " + sql);
  }
}

struct sqlite_outbox_fixture {
  static constexpr const char* name = "sqlite";
  temp_db file{"outbox"};
  herald::sqlite_store store{file.path()};

  sqlite_outbox_fixture() {
    exec(store.connection(), "CREATE TABLE IF NOT EXISTS business (n INTEGER NOT NULL)");
  }
  void write_business_row(herald::sqlite_store::transaction& tx, int n) {
    exec(tx.connection(), "INSERT INTO business (n) VALUES (" + std::to_string(n) + ")");
  }
  std::size_t business_rows() {
    auto tx = store.begin();
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(tx.connection(), "SELECT count(*) FROM business", -1, &s, nullptr);
    sqlite3_step(s);
    const auto n = static_cast<std::size_t>(sqlite3_column_int64(s, 0));
    sqlite3_finalize(s);
    return n;
  }
  // Another connection on the file, as another process has.
  std::unique_ptr<herald::sqlite_store> another_store() {
    return std::make_unique<herald::sqlite_store>(file.path());
  }
};
inline herald::sqlite_store& store_of(std::unique_ptr<herald::sqlite_store>& second,
                                      herald::sqlite_store&) {
  return *second;
}
#endif

#if HERALD_TEST_POSTGRES
inline void pg_exec(PGconn* c, const std::string& sql) {
  PGresult* r = PQexec(c, sql.c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  const std::string why = ok ? "" : PQresultErrorMessage(r);
  PQclear(r);
  if (!ok) throw std::runtime_error("postgres: " + why + " in: " + sql);
}

struct postgres_outbox_fixture {
  static constexpr const char* name = "postgres";
  postgres_schema schema;
  herald::postgres_store store{schema.url(), {.schema = schema.name()}};

  postgres_outbox_fixture() {
    auto tx = store.begin();
    pg_exec(tx.connection(), "CREATE TABLE " + schema.name() + ".business (n integer NOT NULL)");
    tx.commit();
  }
  void write_business_row(herald::postgres_store::transaction& tx, int n) {
    pg_exec(tx.connection(),
            "INSERT INTO " + schema.name() + ".business VALUES (" + std::to_string(n) + ")");
  }
  std::size_t business_rows() {
    auto tx = store.begin();
    PGresult* r =
        PQexec(tx.connection(), ("SELECT count(*) FROM " + schema.name() + ".business").c_str());
    const auto n = static_cast<std::size_t>(std::atoll(PQgetvalue(r, 0, 0)));
    PQclear(r);
    return n;
  }
  // Another store on the schema, as another process has.
  std::unique_ptr<herald::postgres_store> another_store() {
    return std::make_unique<herald::postgres_store>(
        schema.url(), herald::postgres_options{.schema = schema.name()});
  }
};
inline herald::postgres_store& store_of(std::unique_ptr<herald::postgres_store>& second,
                                        herald::postgres_store&) {
  return *second;
}
#endif

}  // namespace herald_test

#if HERALD_TEST_SQLITE && HERALD_TEST_POSTGRES
#define OUTBOX_STORES                                                     \
  herald_test::memory_outbox_fixture, herald_test::sqlite_outbox_fixture, \
      herald_test::postgres_outbox_fixture
#elif HERALD_TEST_SQLITE
#define OUTBOX_STORES herald_test::memory_outbox_fixture, herald_test::sqlite_outbox_fixture
#elif HERALD_TEST_POSTGRES
#define OUTBOX_STORES herald_test::memory_outbox_fixture, herald_test::postgres_outbox_fixture
#else
#define OUTBOX_STORES herald_test::memory_outbox_fixture
#endif
