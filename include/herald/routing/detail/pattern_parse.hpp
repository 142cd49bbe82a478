// SPDX-License-Identifier: MIT
#pragma once

// Parsing an event pattern's JSON into its tree, bounded in depth and size,
// every rule broken named with the path where it broke.

#include <cmath>              // finite numbers
#include <cstddef>            // budgets
#include <limits>             // open numeric bounds
#include <nlohmann/json.hpp>  // patterns are JSON
#include <string>             // paths
#include <string_view>        // operator names
#include <vector>             // string lists

#include "herald/error.hpp"
#include "herald/routing/detail/pattern_match.hpp"  // lowercase
#include "herald/routing/detail/pattern_tree.hpp"

namespace herald::detail::pattern {

// ---- parsing -------------------------------------------------------------

/// How large a pattern may be: parsing recurses once per level, and matching
/// costs what the pattern holds, so both are bounded at parse time.
inline constexpr std::size_t max_depth = 32;        // nested objects and "$or" levels
inline constexpr std::size_t max_elements = 10000;  // fields, values and alternatives

[[noreturn]] inline void fail(const std::string& path, const std::string& rule) {
  throw pattern_error(path,
                      "invalid event pattern at '" + (path.empty() ? "$" : path) + "': " + rule);
}

struct parse_budget {
  std::size_t elements = 0;

  void spend(std::size_t n, const std::string& path) {
    elements += n;
    if (elements > max_elements) {
      fail(path, "the pattern holds more than " + std::to_string(max_elements) +
                     " fields, values and alternatives; split it into several rules");
    }
  }
};

inline std::string member_path(const std::string& parent, std::string_view name) {
  return parent.empty() ? std::string(name) : parent + "." + std::string(name);
}

inline std::string element_path(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

inline const std::string& need_string(const nlohmann::json& v, const std::string& path,
                                      std::string_view what) {
  if (!v.is_string()) {
    fail(path, std::string(what) + " takes a string, got " + v.type_name());
  }
  return v.get_ref<const std::string&>();
}

inline wildcard_text parse_wildcard(const std::string& text, const std::string& path) {
  wildcard_text w;
  std::string current;
  bool previous_star = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\') {
      if (i + 1 == text.size() || (text[i + 1] != '*' && text[i + 1] != '\\')) {
        fail(path, "a backslash in a wildcard may only escape '*' or '\\'");
      }
      current += text[++i];
      previous_star = false;
    } else if (c == '*') {
      if (previous_star) fail(path, "a wildcard may not hold consecutive '*' characters");
      if (i == 0) {
        w.leading_star = true;
      } else {
        w.segments.push_back(std::move(current));
        current.clear();
      }
      previous_star = true;
    } else {
      current += c;
      previous_star = false;
    }
  }
  if (previous_star && !text.empty()) {
    w.trailing_star = true;
  } else {
    w.segments.push_back(std::move(current));
  }
  if (w.leading_star && text.size() == 1) w.segments.clear();
  return w;
}

inline std::vector<std::string> string_list(const nlohmann::json& v, const std::string& path,
                                            std::string_view what, parse_budget& budget) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
  } else if (v.is_array() && !v.empty()) {
    budget.spend(v.size(), path);
    for (std::size_t i = 0; i < v.size(); ++i) {
      out.push_back(need_string(v[i], element_path(path, i), what));
    }
  } else {
    fail(path, std::string(what) + " takes a string or a non-empty array of strings");
  }
  return out;
}

// "prefix" and "suffix" take a string or {"equals-ignore-case": string}.
inline void parse_affix(matcher& m, const nlohmann::json& v, const std::string& path,
                        std::string_view name, op plain, op ignore_case) {
  if (v.is_object()) {
    if (v.size() != 1 || !v.contains("equals-ignore-case")) {
      fail(path, std::string(name) + " takes a string or {\"equals-ignore-case\": string}");
    }
    m.kind = ignore_case;
    m.text = lowercase(need_string(v["equals-ignore-case"], member_path(path, "equals-ignore-case"),
                                   "equals-ignore-case"));
  } else {
    m.kind = plain;
    m.text = need_string(v, path, name);
  }
}

inline void parse_anything_but(matcher& m, const nlohmann::json& v, const std::string& path,
                               parse_budget& budget) {
  if (v.is_string() || v.is_number()) {
    m.kind = op::anything_but_values;
    if (v.is_string())
      m.texts.push_back(v.get<std::string>());
    else
      m.numbers.push_back(v.get<double>());
    return;
  }
  if (v.is_array()) {
    if (v.empty()) fail(path, "anything-but takes a non-empty array");
    budget.spend(v.size(), path);
    bool strings = v.front().is_string();
    for (std::size_t i = 0; i < v.size(); ++i) {
      const auto& e = v[i];
      if (strings ? !e.is_string() : !e.is_number()) {
        fail(element_path(path, i),
             "anything-but lists hold only strings or only numbers, not a mix or other types");
      }
      if (strings)
        m.texts.push_back(e.get<std::string>());
      else
        m.numbers.push_back(e.get<double>());
    }
    m.kind = op::anything_but_values;
    return;
  }
  if (!v.is_object() || v.size() != 1) {
    fail(path,
         "anything-but takes a string, a number, an array of them, or one of "
         "{\"prefix\"}, {\"suffix\"}, {\"equals-ignore-case\"}, {\"wildcard\"}");
  }
  const auto only = v.begin();  // an object of one member
  const std::string& name = only.key();
  const nlohmann::json& operand = only.value();
  std::string inner = member_path(path, name);
  if (name == "prefix" || name == "suffix") {
    m.kind = name == "prefix" ? op::anything_but_prefix : op::anything_but_suffix;
    m.texts = string_list(operand, inner, name, budget);
    for (std::size_t i = 0; i < m.texts.size(); ++i) {
      // An empty affix is in every string: the pattern could match no string at all.
      if (m.texts[i].empty()) {
        fail(operand.is_array() ? element_path(inner, i) : inner,
             "anything-but " + name + " may not be empty: every string has it");
      }
    }
  } else if (name == "equals-ignore-case") {
    m.kind = op::anything_but_equals_ignore_case;
    for (auto& s : string_list(operand, inner, "equals-ignore-case", budget))
      m.texts.push_back(lowercase(s));
  } else if (name == "wildcard") {
    m.kind = op::anything_but_wildcard;
    for (auto& s : string_list(operand, inner, "wildcard", budget))
      m.wildcards.push_back(parse_wildcard(s, inner));
  } else {
    fail(inner, "anything-but cannot hold '" + std::string(name) +
                    "'; it takes prefix, suffix, equals-ignore-case or wildcard");
  }
}

inline void parse_numeric(matcher& m, const nlohmann::json& v, const std::string& path) {
  m.kind = op::numeric;
  if (!v.is_array() || v.empty() || v.size() % 2 != 0 || v.size() > 4) {
    fail(path, "numeric takes [op, number] or [op, number, op, number] with op one of = < <= > >=");
  }
  bool has_low = false, has_high = false;
  for (std::size_t i = 0; i < v.size(); i += 2) {
    std::string op_path = element_path(path, i);
    const std::string& o = need_string(v[i], op_path, "a numeric operator");
    if (!v[i + 1].is_number()) {
      fail(element_path(path, i + 1),
           std::string("numeric compares with a number, got ") + v[i + 1].type_name());
    }
    double n = v[i + 1].get<double>();
    // Only a JSON value built in C++ can hold these; text cannot. A NaN bound
    // would make every comparison false, an infinite one means nothing.
    if (!std::isfinite(n)) fail(element_path(path, i + 1), "numeric compares with a finite number");
    if (o == "=") {
      if (v.size() != 2) fail(op_path, "numeric \"=\" cannot be combined with a range");
      m.low = m.high = n;
      m.low_inclusive = m.high_inclusive = true;
      return;
    }
    bool lower_bound = o == ">" || o == ">=";
    bool upper_bound = o == "<" || o == "<=";
    if (!lower_bound && !upper_bound) {
      fail(op_path, "unknown numeric operator '" + o + "'; use = < <= > >=");
    }
    if (lower_bound) {
      if (has_low) fail(op_path, "numeric has two lower bounds");
      has_low = true;
      m.low = n;
      m.low_inclusive = o == ">=";
    } else {
      if (has_high) fail(op_path, "numeric has two upper bounds");
      has_high = true;
      m.high = n;
      m.high_inclusive = o == "<=";
    }
  }
  if (m.low >= m.high) fail(path, "numeric range is empty: its lower bound is not below its upper");
}

inline matcher parse_matcher(const nlohmann::json& v, const std::string& path,
                             parse_budget& budget) {
  matcher m;
  if (v.is_string()) {
    m.kind = op::exact_string;
    m.text = v.get<std::string>();
    return m;
  }
  if (v.is_number()) {
    m.kind = op::exact_number;
    m.number = v.get<double>();
    if (!std::isfinite(m.number)) fail(path, "a number to match must be finite");
    return m;
  }
  if (v.is_boolean()) {
    m.kind = op::exact_bool;
    m.flag = v.get<bool>();
    return m;
  }
  if (v.is_null()) return m;  // exact_null
  if (!v.is_object()) fail(path, "a value to match may not be an array");
  if (v.size() != 1) {
    fail(path, "a matching object holds exactly one operator, got " + std::to_string(v.size()));
  }
  const auto only = v.begin();  // an object of one member
  const std::string& name = only.key();
  const nlohmann::json& operand = only.value();
  std::string inner = member_path(path, name);
  if (name == "prefix") {
    parse_affix(m, operand, inner, "prefix", op::prefix, op::prefix_ignore_case);
  } else if (name == "suffix") {
    parse_affix(m, operand, inner, "suffix", op::suffix, op::suffix_ignore_case);
  } else if (name == "equals-ignore-case") {
    m.kind = op::equals_ignore_case;
    m.text = lowercase(need_string(operand, inner, "equals-ignore-case"));
  } else if (name == "wildcard") {
    m.kind = op::wildcard;
    m.wildcards.push_back(parse_wildcard(need_string(operand, inner, "wildcard"), inner));
  } else if (name == "anything-but") {
    parse_anything_but(m, operand, inner, budget);
  } else if (name == "numeric") {
    parse_numeric(m, operand, inner);
  } else if (name == "exists") {
    if (!operand.is_boolean()) fail(inner, "exists takes true or false");
    m.kind = op::exists;
    m.flag = operand.get<bool>();
  } else if (name == "cidr") {
    auto block = parse_cidr(need_string(operand, inner, "cidr"));
    if (!block) {
      fail(inner, "cidr takes an IPv4 or IPv6 block such as 10.0.0.0/24 or 2001:db8::/32");
    }
    m.kind = op::cidr;
    m.block = *block;
  } else {
    fail(inner, "unknown operator '" + std::string(name) +
                    "'; use prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, "
                    "exists or cidr");
  }
  return m;
}

// Two keys that spell paths through one object ({"a.b": …, "a": {"c": …}})
// share its node, so that in an array both must hold in one element.
inline void add_field(node& n, field f) {
  if (!f.nested.empty()) {
    for (auto& existing : n.fields) {
      if (existing.name != f.name || existing.nested.empty()) continue;
      auto& into = existing.nested.front();
      auto& from = f.nested.front();
      for (auto& g : from.fields) add_field(into, std::move(g));
      for (auto& alternatives : from.any_of) into.any_of.push_back(std::move(alternatives));
      return;
    }
  }
  n.fields.push_back(std::move(f));
}

inline node parse_node(const nlohmann::json& object, const std::string& path, parse_budget& budget,
                       std::size_t depth = 1) {
  if (depth > max_depth) {
    fail(path, "nests objects and \"$or\" deeper than " + std::to_string(max_depth) +
                   " levels; flatten the pattern");
  }
  if (!object.is_object()) fail(path, std::string("must be an object, got ") + object.type_name());
  if (object.empty()) fail(path, "must name at least one field");
  budget.spend(object.size(), path);
  node n;
  for (const auto& [name, value] : object.items()) {
    std::string here = member_path(path, name);
    if (name == "$or") {
      if (!value.is_array() || value.size() < 2) {
        fail(here, "$or takes an array of at least two patterns");
      }
      std::vector<node> alternatives;
      for (std::size_t i = 0; i < value.size(); ++i) {
        alternatives.push_back(parse_node(value[i], element_path(here, i), budget, depth + 1));
      }
      n.any_of.push_back(std::move(alternatives));
      continue;
    }
    field f;
    // A key with dots is the path it spells, as in event-ruler, which
    // joins nested keys with dots: {"a.b": [...]} is {"a": {"b": [...]}}.
    const auto dot = name.find('.');
    f.name = name.substr(0, dot);
    f.dotted = f.name + '.';
    if (dot != std::string::npos) {
      nlohmann::json rest = nlohmann::json::object();
      rest[name.substr(dot + 1)] = value;
      f.nested.push_back(parse_node(rest, here, budget, depth + 1));
    } else if (value.is_object()) {
      f.nested.push_back(parse_node(value, here, budget, depth + 1));
    } else if (value.is_array()) {
      if (value.empty()) fail(here, "an array of values to match may not be empty");
      budget.spend(value.size(), here);
      for (std::size_t i = 0; i < value.size(); ++i) {
        f.leaf.push_back(parse_matcher(value[i], element_path(here, i), budget));
      }
    } else {
      fail(here, std::string("must be an array of values to match or an object of fields, got ") +
                     value.type_name());
    }
    add_field(n, std::move(f));
  }
  return n;
}

}  // namespace herald::detail::pattern
