// SPDX-License-Identifier: MIT
#pragma once

// The parsed form of an event pattern: what the parser builds and the
// matcher walks.

#include <cstddef>            // sizes
#include <nlohmann/json.hpp>  // literal values are JSON
#include <string>             // literal values
#include <string_view>        // wildcard segments
#include <vector>             // alternatives, fields, wildcard segments

#include "herald/detail/ip_address.hpp"

namespace herald::detail::pattern {

enum class op {
  exact_string,
  exact_number,
  exact_bool,
  exact_null,
  prefix,
  prefix_ignore_case,
  suffix,
  suffix_ignore_case,
  equals_ignore_case,
  wildcard,
  anything_but_values,
  anything_but_prefix,
  anything_but_suffix,
  anything_but_equals_ignore_case,
  anything_but_wildcard,
  numeric,
  exists,
  cidr,
};

// '*' splits a wildcard into literal segments; escapes are already resolved.
struct wildcard_text {
  std::vector<std::string> segments;
  bool leading_star = false;
  bool trailing_star = false;

  [[nodiscard]] bool matches(std::string_view s) const noexcept {
    if (segments.empty()) return leading_star || s.empty();
    std::size_t first = 0, last = segments.size();
    if (!leading_star) {
      if (s.substr(0, segments[0].size()) != segments[0]) return false;
      s.remove_prefix(segments[0].size());
      first = 1;
    }
    if (!trailing_star && last > first) {
      const auto& tail = segments[last - 1];
      if (s.size() < tail.size() || s.substr(s.size() - tail.size()) != tail) return false;
      s.remove_suffix(tail.size());
      --last;
    } else if (!trailing_star && !s.empty()) {
      return false;  // one segment, no stars around it: must be the whole string
    }
    for (std::size_t i = first; i < last; ++i) {  // leftmost placement is always safe
      auto at = s.find(segments[i]);
      if (at == std::string_view::npos) return false;
      s.remove_prefix(at + segments[i].size());
    }
    return true;
  }
};

struct matcher {
  op kind = op::exact_null;
  std::string text;                      // exact, prefix, suffix; lowercased for *_ignore_case
  std::vector<std::string> texts;        // anything-but string values (lowercased for ignore-case)
  std::vector<double> numbers;           // anything-but numeric values
  std::vector<wildcard_text> wildcards;  // wildcard, anything-but wildcard
  double number = 0;                     // exact number
  bool flag = false;                     // exact bool, exists
  double low = -std::numeric_limits<double>::infinity();
  double high = std::numeric_limits<double>::infinity();
  bool low_inclusive = false, high_inclusive = false;
  cidr_block block{};
};

struct node;

struct field {
  std::string name;
  std::string dotted;         // name + ".": an event key that spells a path on from here
  std::vector<matcher> leaf;  // alternatives (OR); empty when nested
  std::vector<node> nested;   // one node when the pattern nests an object here
};

struct node {
  std::vector<field> fields;              // all must match (AND)
  std::vector<std::vector<node>> any_of;  // each "$or": one alternative must match
};

}  // namespace herald::detail::pattern
