// SPDX-License-Identifier: MIT
#pragma once

// Names and literals the store writes into SQL text.

#include <chrono>       // the connect timeout
#include <cstddef>      // the identifier limit
#include <cstdint>      // the channel's hash
#include <string>       // results
#include <string_view>  // inputs

#include "herald/detail/json_text.hpp"
#include "herald/error.hpp"
#include "herald/postgres/postgres_options.hpp"

namespace herald::detail::postgres {

// The one way herald puts a name or a value into SQL text: `text` between
// `quote`s, each `quote` in it doubled. A NUL is refused, not cut: libpq
// takes SQL as a C string, so the statement would end there.
inline std::string quoted(std::string_view text, char quote, std::string_view what) {
  if (text.find('\0') != std::string_view::npos) {
    throw error(errc::invalid_argument,
                "postgres store: " + std::string(what) +
                    " contains a NUL byte, which PostgreSQL cannot hold in SQL text; remove it");
  }
  std::string out(1, quote);
  for (char ch : text) {
    if (ch == quote) out += quote;
    out += ch;
  }
  return out + quote;
}

// "name": any schema name is safe in SQL text.
inline std::string quote_identifier(std::string_view identifier) {
  return quoted(identifier, '"', "the identifier");
}

// 'text' (standard_conforming_strings is on since 9.1, so a backslash is a
// backslash). A name inside a literal, as nextval('"s"."seq"') takes it,
// needs both: quote_literal(quote_identifier(s) + ".seq").
inline std::string quote_literal(std::string_view text) {
  return quoted(text, '\'', "the literal");
}

// PostgreSQL cuts identifiers to 63 bytes (NAMEDATALEN - 1) with only a
// NOTICE, so two long schema names would share one schema; it also refuses
// text that is not UTF-8. Both are refused here, before any connection.
inline constexpr std::size_t max_identifier_bytes = 63;

inline void check_schema_name(std::string_view schema) {
  if (schema.empty()) {
    throw error(errc::invalid_argument, "postgres store: the schema name may not be empty");
  }
  if (schema.size() > max_identifier_bytes) {
    throw error(errc::invalid_argument,
                "postgres store: the schema name '" + quote_for_message(schema) + "' is " +
                    std::to_string(schema.size()) +
                    " bytes long; PostgreSQL keeps only the first " +
                    std::to_string(max_identifier_bytes) +
                    " (so two long names would share one schema): choose a shorter one");
  }
  std::string scratch;
  if (schema.find('\0') != std::string_view::npos || !append_json_string(scratch, schema)) {
    throw error(errc::invalid_argument,
                "postgres store: the schema name '" + quote_for_message(schema) +
                    "' contains a NUL byte or is not valid UTF-8; PostgreSQL names are UTF-8 "
                    "text without NUL: choose another");
  }
}

// A queue's NOTIFY channel: herald_ and 16 hex digits of FNV-1a over schema,
// a separator and queue, so that it fits the 63-byte limit on identifiers.
inline std::string channel_name(std::string_view schema, std::string_view queue) {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&](std::string_view s) {
    for (char ch : s) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  };
  mix(schema);
  mix("\x1f");
  mix(queue);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "herald_";
  for (int shift = 60; shift >= 0; shift -= 4) out += hex[(h >> shift) & 15];
  return out;
}

// The connection string with libpq's connect_timeout added, in the URI's
// form or the key=value form, whichever it is.
inline std::string with_connect_timeout(const std::string& conninfo, std::chrono::seconds t) {
  const std::string value = "connect_timeout=" + std::to_string(t.count());
  if (conninfo.find("://") == std::string::npos) return conninfo + " " + value;
  return conninfo + (conninfo.find('?') == std::string::npos ? "?" : "&") + value;
}

// What the store sets on each connection it opens (never on a user's).
inline std::string session_settings(const postgres_options& o) {
  return "SET statement_timeout = " + std::to_string(o.statement_timeout.count()) +
         "; SET lock_timeout = " + std::to_string(o.lock_timeout.count()) +
         "; SET client_min_messages = warning; SET application_name = " +
         quote_literal(o.application_name);
}

}  // namespace herald::detail::postgres
