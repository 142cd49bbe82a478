// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>      // positions
#include <string>       // error text
#include <string_view>  // subjects

#include "herald/error.hpp"

namespace herald {

/// The longest subject herald accepts.
inline constexpr std::size_t max_subject_length = 256;

/// Checks a subject: tokens of printable ASCII (no spaces) separated by
/// single dots, at most 256 characters. With `for_subscribe`, a token may be
/// the wildcard `*` (one token) and the last token may be `>` (one or more),
/// as in NATS. Throws herald::error (invalid_argument) saying which rule broke.
inline void validate_subject(std::string_view subject, bool for_subscribe = false) {
  auto fail = [&](const std::string& rule) {
    throw error(errc::invalid_argument,
                "subject '" + std::string(subject.substr(0, 300)) + "' " + rule);
  };
  if (subject.empty()) fail("is empty; a subject is one or more tokens separated by dots");
  if (subject.size() > max_subject_length) {
    fail("is " + std::to_string(subject.size()) + " characters long; the limit is " +
         std::to_string(max_subject_length));
  }
  std::size_t token_start = 0;
  for (std::size_t i = 0; i <= subject.size(); ++i) {
    if (i < subject.size() && subject[i] != '.') {
      auto c = static_cast<unsigned char>(subject[i]);
      if (c <= 0x20 || c >= 0x7f) {
        fail("has a space or a non-printable character at position " + std::to_string(i) +
             "; use printable ASCII");
      }
      continue;
    }
    std::string_view token = subject.substr(token_start, i - token_start);
    if (token.empty()) {
      fail("has an empty token at position " + std::to_string(token_start) +
           "; tokens are separated by single dots");
    }
    bool has_wildcard = token.find_first_of("*>") != std::string_view::npos;
    if (has_wildcard) {
      if (!for_subscribe) {
        fail("holds a wildcard at position " + std::to_string(token_start) +
             "; wildcards are for subscribing, a published subject names one place");
      }
      if (token != "*" && token != ">") {
        fail("mixes a wildcard with other characters in the token at position " +
             std::to_string(token_start) + "; '*' and '>' must be whole tokens");
      }
      if (token == ">" && i != subject.size()) {
        fail("has '>' at position " + std::to_string(token_start) +
             " before the last token; '>' matches the rest and must come last");
      }
    }
    token_start = i + 1;
  }
}

/// Whether `subject` (no wildcards) is matched by `filter` (may hold `*`
/// and a final `>`). Both are assumed valid.
[[nodiscard]] inline bool subject_matches(std::string_view filter,
                                          std::string_view subject) noexcept {
  while (true) {
    auto f_end = filter.find('.');
    auto s_end = subject.find('.');
    std::string_view f = filter.substr(0, f_end);
    std::string_view s = subject.substr(0, s_end);
    if (f == ">") return !s.empty();
    if (f != "*" && f != s) return false;
    bool f_last = f_end == std::string_view::npos;
    bool s_last = s_end == std::string_view::npos;
    if (f_last || s_last) return f_last && s_last;
    filter.remove_prefix(f_end + 1);
    subject.remove_prefix(s_end + 1);
  }
}

}  // namespace herald
