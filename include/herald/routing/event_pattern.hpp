// SPDX-License-Identifier: MIT
#pragma once

#include <nlohmann/json.hpp>  // patterns and events are JSON
#include <string>             // pattern text
#include <string_view>        // pattern text

#include "herald/error.hpp"
#include "herald/routing/detail/pattern_match.hpp"
#include "herald/routing/detail/pattern_parse.hpp"
#include "herald/routing/detail/pattern_tree.hpp"

namespace herald {

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
  /// Marks a pattern, so that bus.subscribe<T>(pattern, handler) without
  /// herald/routing/typed_pattern.hpp says which header it needs.
  using herald_pattern_tag = void;

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

}  // namespace herald
