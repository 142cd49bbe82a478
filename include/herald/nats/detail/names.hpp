// SPDX-License-Identifier: MIT
#pragma once

// Stream and consumer names made from subjects and group names, their
// limits, which stream holds a subscription's filter, and what a header value
// may hold.

#include <cstddef>      // positions
#include <string>       // names
#include <string_view>  // subjects

#include "herald/detail/json_text.hpp"
#include "herald/error.hpp"

namespace herald::detail {

// JetStream names may not hold '.', '*', '>', whitespace or path
// separators, and nats-server 2.9 loses deliveries and acks of a stream
// whose name holds '%'. A dot becomes '_' (readable: "orders.placed" ->
// "orders_placed"); '-' becomes "--", '_' "-u", and every other character
// outside [A-Za-z0-9] "-XX" (hex), so two subjects never share a name.
inline std::string nats_name(std::string_view prefix, std::string_view subject) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out(prefix);
  if (!out.empty()) out += '-';
  for (const char c : subject) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '.') {
      out += '_';
    } else if (c == '-') {
      out += "--";
    } else if (c == '_') {
      out += "-u";
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      out += c;
    } else {
      out += '-';
      out += hex[u >> 4];
      out += hex[u & 0xf];
    }
  }
  return out;
}

// JetStream's longest stream or consumer name (each is a directory on the
// server's disk).
inline constexpr std::size_t nats_max_name_length = 255;

// Refuses a name herald would make from `source` (a subject, a group or
// durable name) that JetStream would refuse for its length.
inline void check_nats_name_length(std::string_view kind, std::string_view what,
                                   std::string_view source, std::string_view name) {
  if (name.size() <= nats_max_name_length) return;
  throw error(errc::invalid_argument,
              std::string(what) + " '" + std::string(source.substr(0, 80)) +
                  (source.size() > 80 ? "..." : "") + "' makes the " + std::string(kind) + " '" +
                  std::string(name.substr(0, 40)) + "...' " + std::to_string(name.size()) +
                  " characters long (escaped and prefixed); JetStream's limit is " +
                  std::to_string(nats_max_name_length) + ": use a shorter " + std::string(what) +
                  " (each character outside [A-Za-z0-9.] takes 2 or 3)");
}

// The consumer of a group (competing members share it) and that of a
// durable subscriber (a fan-out one that resumes) live in two name spaces,
// so that a group and a durable subscriber of one name never share a
// consumer: a group's is its name escaped, a durable subscriber's that and
// "-d". No escaped name reads so: from its start, each '-' of one begins an
// escape ("--", "-u", or "-XX" in upper-case hex), and that of "-d" none.
inline std::string nats_consumer_name(std::string_view group, std::string_view durable) {
  std::string name = !group.empty() ? nats_name("", group) : nats_name("", durable) + "-d";
  check_nats_name_length("consumer name", !group.empty() ? "group" : "durable name",
                         !group.empty() ? group : durable, name);
  return name;
}

// libnats writes header values (Nats-Msg-Id among them) as C strings and
// lines: a NUL cuts one short (two ids would dedupe as one), and CR or LF
// would end the header.
inline void check_nats_header_value(std::string_view field, std::string_view value) {
  const auto bad = value.find_first_of(std::string_view("\0\r\n", 3));
  if (bad == std::string_view::npos) return;
  throw error(errc::invalid_argument,
              std::string(field) + " '" + quote_for_message(value) + "' holds " +
                  (value[bad] == '\0' ? "a NUL byte" : "a line break") + " at position " +
                  std::to_string(bad) +
                  "; NATS carries it in a header, which holds neither: use printable characters");
}

// A stream prefix names every stream herald makes: letters, digits, '_' and '-' only.
inline void check_nats_prefix(std::string_view prefix) {
  bool ok = !prefix.empty();
  for (const char c : prefix) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-');
  }
  if (!ok) {
    throw error(errc::invalid_argument,
                "nats_options::stream_prefix '" + std::string(prefix) +
                    "' must be letters, digits, '_' and '-' (it begins every stream name)");
  }
  check_nats_name_length("dead letters' stream name", "nats_options::stream_prefix", prefix,
                         std::string(prefix) + "-dead_letter");
}

// Whether every subject `filter` matches is one `held` matches (both valid
// subjects, either may hold wildcards): a stream holding `held` holds them.
inline bool nats_subject_covers(std::string_view held, std::string_view filter) noexcept {
  while (true) {
    const auto h_end = held.find('.');
    const auto f_end = filter.find('.');
    const std::string_view h = held.substr(0, h_end);
    const std::string_view f = filter.substr(0, f_end);
    if (h == ">") return true;
    if (f == ">") return false;  // many tokens, where `held` names one
    if (h != "*" && h != f) return false;
    const bool h_last = h_end == std::string_view::npos;
    const bool f_last = f_end == std::string_view::npos;
    if (h_last || f_last) return h_last && f_last;
    held.remove_prefix(h_end + 1);
    filter.remove_prefix(f_end + 1);
  }
}

}  // namespace herald::detail
