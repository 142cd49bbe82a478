// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>      // sizes
#include <string>       // output buffer
#include <string_view>  // input

namespace herald::detail {

// Appends `s` as a JSON string literal. Returns false, leaving `out` partly
// written, when `s` is not valid UTF-8 (RFC 8259 §8.1 requires it).
inline bool append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    std::size_t start = i;
    // Fast path: a run of printable ASCII that needs no escape.
    while (i < n) {
      auto c = static_cast<unsigned char>(s[i]);
      if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
      ++i;
    }
    out.append(s.data() + start, i - start);
    if (i == n) break;
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0xf];
      }
      ++i;
      continue;
    }
    // RFC 3629 §4: well-formed UTF-8 sequences only (no overlongs, no surrogates).
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) return false;
    }
    out.append(s.data() + i, len);
    i += len;
  }
  out += '"';
  return true;
}

// A short, printable rendering of untrusted text for error messages.
inline std::string quote_for_message(std::string_view s, std::size_t max = 64) {
  std::string out;
  if (s.size() > max) s = s.substr(0, max);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '\'') {
      out += ch;
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  return out;
}

}  // namespace herald::detail
