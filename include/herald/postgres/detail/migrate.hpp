// SPDX-License-Identifier: MIT
#pragma once

#include <string>       // SQL
#include <string_view>  // the schema's name

#include "herald/error.hpp"
#include "herald/postgres/detail/connection.hpp"
#include "herald/postgres/detail/schema.hpp"

namespace herald::detail::postgres {

// Creates the schema or migrates it, in one transaction under an advisory
// lock (processes starting at once take turns); refuses a newer one
// untouched. `quoted` is the schema's quoted name; `who` starts messages.
inline void migrate(connection& c, std::string_view schema, const std::string& quoted,
                    const std::string& who) {
  c.exec("BEGIN", "starting the migration");
  try {
    params key;
    key.text("herald schema " + std::string(schema));
    c.prepare("herald_migration_lock", "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))");
    c.run("herald_migration_lock", key, "taking the migration lock");
    c.exec("CREATE SCHEMA IF NOT EXISTS " + quoted + "; CREATE TABLE IF NOT EXISTS " + quoted +
               ".schema_version (version integer NOT NULL)",
           "creating the schema");
    auto v = c.exec("SELECT coalesce(max(version), 0) FROM " + quoted + ".schema_version",
                    "reading the schema version");
    const auto version = v.integer(0, 0);
    if (version > schema_version) {
      throw store_error(errc::schema_too_new,
                        who + ": the database has herald schema version " +
                            std::to_string(version) + ", this herald knows versions up to " +
                            std::to_string(schema_version) +
                            "; use a newer herald, or another schema (nothing was changed)");
    }
    if (version < 1) c.exec(in_schema(schema_v1, quoted), "creating v1");
    if (version < 2) c.exec(in_schema(schema_v2, quoted), "migrating to v2");
    if (version < 3) c.exec(in_schema(schema_v3, quoted), "migrating to v3");
    if (version < 4) c.exec(in_schema(schema_v4, quoted), "migrating to v4");
    if (version < 5) c.exec(in_schema(schema_v5, quoted), "migrating to v5");
    if (version != schema_version) {
      c.exec("DELETE FROM " + quoted + ".schema_version; INSERT INTO " + quoted +
                 ".schema_version VALUES (" + std::to_string(schema_version) + ")",
             "recording the schema version");
    }
    c.exec("COMMIT", "committing the migration");
  } catch (...) {
    try {
      c.exec("ROLLBACK", "rolling back the migration");
    } catch (const store_error&) {
      // A broken connection rolled it back.
    }
    throw;
  }
}

}  // namespace herald::detail::postgres
