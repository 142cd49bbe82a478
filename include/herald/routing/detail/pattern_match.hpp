// SPDX-License-Identifier: MIT
#pragma once

// Matching a parsed pattern against an event's JSON: bounded recursion, and
// no allocation unless the event spells a path with dotted keys.

#include <cmath>              // numeric comparisons
#include <cstddef>            // nesting
#include <nlohmann/json.hpp>  // events are JSON
#include <optional>           // an object spelled with dotted keys
#include <string>             // lowercase copies
#include <string_view>        // matching without copies
#include <vector>             // alternatives

#include "herald/routing/detail/pattern_tree.hpp"

namespace herald::detail::pattern {

// An event's JSON may come from anywhere: arrays nested deeper than this
// are not looked into, so matching never recurses without bound. (The
// decoder refuses documents deeper than 64 by default.)
inline constexpr std::size_t max_array_nesting = 64;

inline char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

inline std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

// ASCII case folding only: EventBridge folds Unicode, herald does not (yet).
inline bool equal_ignore_case(std::string_view a, std::string_view lowered) noexcept {
  if (a.size() != lowered.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lowered[i]) return false;
  }
  return true;
}

inline bool starts_with_ignore_case(std::string_view s, std::string_view lowered) noexcept {
  return s.size() >= lowered.size() && equal_ignore_case(s.substr(0, lowered.size()), lowered);
}

inline bool ends_with_ignore_case(std::string_view s, std::string_view lowered) noexcept {
  return s.size() >= lowered.size() &&
         equal_ignore_case(s.substr(s.size() - lowered.size()), lowered);
}

// Whether one leaf value (never an object or array) satisfies one matcher.
inline bool matches_value(const matcher& m, const nlohmann::json& v) noexcept {
  const std::string* s = v.is_string() ? v.get_ptr<const std::string*>() : nullptr;
  switch (m.kind) {
    case op::exact_string:
      return s && *s == m.text;
    case op::exact_number:
      return v.is_number() && v.get<double>() == m.number;
    case op::exact_bool:
      return v.is_boolean() && v.get<bool>() == m.flag;
    case op::exact_null:
      return v.is_null();
    case op::prefix:
      return s && std::string_view(*s).starts_with(m.text);
    case op::prefix_ignore_case:
      return s && starts_with_ignore_case(*s, m.text);
    case op::suffix:
      return s && std::string_view(*s).ends_with(m.text);
    case op::suffix_ignore_case:
      return s && ends_with_ignore_case(*s, m.text);
    case op::equals_ignore_case:
      return s && equal_ignore_case(*s, m.text);
    case op::wildcard:
      return s && m.wildcards.front().matches(*s);
    case op::anything_but_values:
      if (s) {
        for (const auto& t : m.texts) {
          if (*s == t) return false;
        }
      } else if (v.is_number()) {
        double d = v.get<double>();
        for (double n : m.numbers) {
          if (d == n) return false;
        }
      }
      return true;
    // As event-ruler's: a value of another type than the operand is not
    // one of the excluded values, so every anything-but matches it
    // (numbers, booleans and null against strings, strings against numbers).
    case op::anything_but_prefix:
      if (!s) return true;
      for (const auto& t : m.texts) {
        if (std::string_view(*s).starts_with(t)) return false;
      }
      return true;
    case op::anything_but_suffix:
      if (!s) return true;
      for (const auto& t : m.texts) {
        if (std::string_view(*s).ends_with(t)) return false;
      }
      return true;
    case op::anything_but_equals_ignore_case:
      if (!s) return true;
      for (const auto& t : m.texts) {
        if (equal_ignore_case(*s, t)) return false;
      }
      return true;
    case op::anything_but_wildcard:
      if (!s) return true;
      for (const auto& w : m.wildcards) {
        if (w.matches(*s)) return false;
      }
      return true;
    case op::numeric: {
      if (!v.is_number()) return false;
      double d = v.get<double>();
      bool above = m.low_inclusive ? d >= m.low : d > m.low;
      bool below = m.high_inclusive ? d <= m.high : d < m.high;
      return above && below;
    }
    case op::exists:
      return m.flag;  // a leaf value is present
    case op::cidr: {
      if (!s) return false;
      auto address = parse_ip(*s);
      return address && m.block.contains(*address);
    }
  }
  return false;
}

inline bool any_matcher(const std::vector<matcher>& alternatives,
                        const nlohmann::json& v) noexcept {
  for (const auto& m : alternatives) {
    if (matches_value(m, v)) return true;
  }
  return false;
}

// Visits the leaf values of an event field: the value itself, or the
// elements of an array, flattened. Objects are not leaves.
template <class Visit>
bool any_leaf(const nlohmann::json& v, Visit&& visit, bool& saw_leaf, std::size_t nesting = 0) {
  if (v.is_array()) {
    if (nesting == max_array_nesting) return false;
    for (const auto& e : v) {
      if (any_leaf(e, visit, saw_leaf, nesting + 1)) return true;
    }
    return false;
  }
  if (v.is_object()) return false;
  saw_leaf = true;
  return visit(v);
}

inline bool matches_leaf(const field& f, const nlohmann::json* v) {
  bool saw_leaf = false;
  if (v &&
      any_leaf(
          *v, [&](const nlohmann::json& leaf) { return any_matcher(f.leaf, leaf); }, saw_leaf)) {
    return true;
  }
  if (saw_leaf) return false;
  // No leaf value here (missing, an object, or an array without leaves):
  // only "exists": false matches, as in EventBridge.
  for (const auto& m : f.leaf) {
    if (m.kind == op::exists && !m.flag) return true;
  }
  return false;
}

inline bool matches_node(const node& n, const nlohmann::json* object);

// A nested pattern against an event value; through arrays, one element must
// match the whole nested pattern, so fields never mix across elements.
inline bool matches_nested(const node& n, const nlohmann::json* v, std::size_t nesting = 0) {
  if (v && v->is_array()) {
    if (nesting == max_array_nesting) return false;
    bool any_element = false;
    for (const auto& e : *v) {
      any_element = true;
      if (matches_nested(n, &e, nesting + 1)) return true;
    }
    return !any_element && matches_node(n, nullptr);
  }
  return matches_node(n, v);
}

// An event key with dots spells a path, as in event-ruler, which joins
// nested keys with dots: beside `object[f.name]`, members "name.rest" are
// its members "rest". Nothing is built unless the event has such a key.
inline std::optional<nlohmann::json> with_dotted_members(const nlohmann::json& object,
                                                         const field& f,
                                                         const nlohmann::json* direct) {
  const auto& members = object.get_ref<const nlohmann::json::object_t&>();
  auto it = members.lower_bound(f.dotted);
  if (it == members.end() || !std::string_view(it->first).starts_with(f.dotted)) {
    return std::nullopt;
  }
  nlohmann::json merged = direct && direct->is_object() ? *direct : nlohmann::json::object();
  for (; it != members.end() && std::string_view(it->first).starts_with(f.dotted); ++it) {
    std::string rest = it->first.substr(f.dotted.size());
    auto found = merged.find(rest);
    if (found == merged.end()) {
      merged.emplace(std::move(rest), it->second);
    } else if (found->is_object() && it->second.is_object()) {
      found->update(it->second, true);
    } else {
      *found = nlohmann::json::array({*found, it->second});  // both values are there
    }
  }
  if (direct && direct->is_array()) {  // an array of objects: one more element
    nlohmann::json elements = *direct;
    elements.push_back(std::move(merged));
    return elements;
  }
  return merged;
}

inline bool matches_node(const node& n, const nlohmann::json* object) {
  const bool is_object = object && object->is_object();
  for (const auto& f : n.fields) {
    const nlohmann::json* v = nullptr;
    if (is_object) {
      auto it = object->find(f.name);
      if (it != object->end()) v = &*it;
    }
    bool ok = false;
    if (f.nested.empty()) {
      ok = matches_leaf(f, v);
    } else if (auto merged = is_object ? with_dotted_members(*object, f, v) : std::nullopt) {
      ok = matches_nested(f.nested.front(), &*merged);
    } else {
      ok = matches_nested(f.nested.front(), v);
    }
    if (!ok) return false;
  }
  for (const auto& alternatives : n.any_of) {
    bool one = false;
    for (const auto& alternative : alternatives) {
      if ((one = matches_node(alternative, object))) break;
    }
    if (!one) return false;
  }
  return true;
}

}  // namespace herald::detail::pattern
