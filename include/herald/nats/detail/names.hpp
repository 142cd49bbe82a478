// SPDX-License-Identifier: MIT
#pragma once

// Stream and consumer names made from subjects and group names, and which
// stream holds a subscription's filter.

#include <cstddef>      // positions
#include <string>       // names
#include <string_view>  // subjects

namespace herald::detail {

// JetStream names may not hold '.', '*', '>', whitespace or path separators.
// A dot becomes '_' (readable: "orders.placed" -> "orders_placed"); '_',
// '%' and every other character a name may not hold become %XX, so two
// different subjects never share a name.
inline std::string nats_name(std::string_view prefix, std::string_view subject) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out(prefix);
  if (!out.empty()) out += '-';
  for (const char c : subject) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '.') {
      out += '_';
    } else if (c == '_' || c == '%' || c == '*' || c == '>' || c == '/' || c == '\\' || u <= 0x20 ||
               u >= 0x7f) {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out;
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
