// SPDX-License-Identifier: MIT
#pragma once

#include <cmath>              // numeric comparisons
#include <cstddef>            // sizes
#include <limits>             // open numeric bounds
#include <nlohmann/json.hpp>  // patterns and events are JSON
#include <string>             // literal values, paths
#include <string_view>        // matching without copies
#include <vector>             // alternatives, fields, wildcard segments

#include "herald/codec.hpp"  // a typed message's CloudEvent JSON, for pattern filters
#include "herald/detail/ip_address.hpp"
#include "herald/error.hpp"

namespace herald {

namespace detail::pattern {

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
  std::vector<matcher> leaf;  // alternatives (OR); empty when nested
  std::vector<node> nested;   // one node when the pattern nests an object here
};

struct node {
  std::vector<field> fields;              // all must match (AND)
  std::vector<std::vector<node>> any_of;  // each "$or": one alternative must match
};

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
    case op::anything_but_prefix:
      return s && !std::string_view(*s).starts_with(m.text);
    case op::anything_but_suffix:
      return s && !std::string_view(*s).ends_with(m.text);
    case op::anything_but_equals_ignore_case:
      if (!s) return false;
      for (const auto& t : m.texts) {
        if (equal_ignore_case(*s, t)) return false;
      }
      return true;
    case op::anything_but_wildcard:
      if (!s) return false;
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

inline bool matches_node(const node& n, const nlohmann::json* object) {
  const bool is_object = object && object->is_object();
  for (const auto& f : n.fields) {
    const nlohmann::json* v = nullptr;
    if (is_object) {
      auto it = object->find(f.name);
      if (it != object->end()) v = &*it;
    }
    bool ok = f.nested.empty() ? matches_leaf(f, v) : matches_nested(f.nested.front(), v);
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
  if (name == "prefix") {
    m.kind = op::anything_but_prefix;
    m.text = need_string(operand, inner, "prefix");
  } else if (name == "suffix") {
    m.kind = op::anything_but_suffix;
    m.text = need_string(operand, inner, "suffix");
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
    f.name = name;
    if (value.is_object()) {
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
    n.fields.push_back(std::move(f));
  }
  return n;
}

}  // namespace detail::pattern

template <class Target>
class rule_set;

/// An event pattern with the semantics of Amazon EventBridge, matched against
/// an event's JSON form — for CloudEvents, the structured-mode object:
/// attributes at the top level, the payload under "data".
///
/// Parsed once into a matcher; matches() allocates nothing and may be called
/// from any number of threads at once.
class event_pattern {
 public:
  /// Throws herald::pattern_error naming the JSON path of the offending part.
  static event_pattern parse(const nlohmann::json& pattern) {
    event_pattern p;
    detail::pattern::parse_budget budget;
    p.root_ = detail::pattern::parse_node(pattern, "", budget);
    return p;
  }

  /// Parses the pattern's JSON text first; bad JSON is a pattern_error at "$".
  static event_pattern parse(std::string_view json) {
    nlohmann::json parsed = nlohmann::json::parse(json, nullptr, false);
    if (parsed.is_discarded()) detail::pattern::fail("", "is not valid JSON");
    return parse(parsed);
  }

  /// Text overloads, so that a literal or a std::string is read as JSON text
  /// rather than turned into a JSON string value.
  static event_pattern parse(const char* json) { return parse(std::string_view(json)); }
  static event_pattern parse(const std::string& json) { return parse(std::string_view(json)); }

  /// Whether `event` satisfies every field of the pattern.
  [[nodiscard]] bool matches(const nlohmann::json& event) const {
    return detail::pattern::matches_node(root_, &event);
  }

  /// Whether the pattern says anything about the event's top-level field
  /// `name`, directly or in one of its "$or" alternatives.
  [[nodiscard]] bool constrains(std::string_view name) const { return constrains(root_, name); }

 private:
  template <class Target>
  friend class rule_set;  // indexes rules by their required fields

  static bool constrains(const detail::pattern::node& n, std::string_view name) {
    for (const auto& f : n.fields) {
      if (f.name == name) return true;
    }
    for (const auto& alternatives : n.any_of) {
      for (const auto& alternative : alternatives) {
        if (constrains(alternative, name)) return true;
      }
    }
    return false;
  }

  detail::pattern::node root_;
};

/// An event pattern bound to an event type: a predicate over message<T> or T
/// that matches the pattern against the message's CloudEvent JSON form. It is
/// what bus.subscribe<T>(pattern, handler) filters with, and any filter slot
/// takes it. A plain T is seen with only its type attribute set.
template <class T>
class typed_pattern {
 public:
  explicit typed_pattern(event_pattern pattern) : pattern_(std::move(pattern)) {}

  [[nodiscard]] bool operator()(const message<T>& m) const {
    static_assert(serializable_event<T>,
                  "herald: matching an event pattern needs the event's JSON form: give it "
                  "to_json and from_json (or NLOHMANN_DEFINE_TYPE_INTRUSIVE)");
    return pattern_.matches(to_cloudevent_json(m));
  }

  [[nodiscard]] bool operator()(const T& event) const { return (*this)(message<T>(event)); }

  [[nodiscard]] const event_pattern& pattern() const noexcept { return pattern_; }

 private:
  event_pattern pattern_;
};

namespace detail {

// Named in bus.hpp, defined here, so the bus needs no JSON unless patterns are used.
// Takes only the message, so that the bus gives it the full attributes.
template <class T>
struct pattern_filter {
  explicit pattern_filter(event_pattern p) : typed(std::move(p)) {}
  explicit pattern_filter(typed_pattern<T> p) : typed(std::move(p)) {}
  bool operator()(const message<T>& m) const { return typed(m); }
  typed_pattern<T> typed;
};

}  // namespace detail
}  // namespace herald
