// SPDX-License-Identifier: MIT
#pragma once

// The JSON view of a message that event patterns and routes match: the
// CloudEvents structured-mode object, built as a DOM. Apart from codec.hpp,
// which writes and reads envelopes as text.

#include <nlohmann/json.hpp>  // the view is a DOM
#include <string>             // attribute values
#include <string_view>        // the type to stand in
#include <utility>            // std::move
#include <variant>            // extension values

#include "herald/attributes.hpp"
#include "herald/detail/rfc3339.hpp"
#include "herald/message.hpp"
#include "herald/serializable_event.hpp"

namespace herald {

namespace detail {

// The attributes of a CloudEvent as the top level of its JSON form; `type`
// stands in for an empty type attribute.
inline nlohmann::json cloudevent_attributes_json(const attributes& m, std::string_view type) {
  nlohmann::json j = nlohmann::json::object();
  j["specversion"] = "1.0";
  for (const auto& a : string_attributes) {
    if (const std::string& value = m.*a.member; !value.empty()) j[std::string(a.name)] = value;
  }
  if (m.type.empty()) j["type"] = std::string(type);
  if (m.time && in_rfc3339_range(*m.time)) {  // no text exists for other times
    std::string text;
    append_rfc3339(text, *m.time);
    j["time"] = std::move(text);
  }
  for (const auto& [name, value] : m.extensions) {
    std::visit([&, &key = name](const auto& v) { j[key] = v; }, value);
  }
  return j;
}

}  // namespace detail

/// The message as a CloudEvents structured-mode JSON object (attributes at
/// the top level, the payload under "data"): what event patterns match.
template <serializable_event T>
[[nodiscard]] nlohmann::json to_cloudevent_json(const message<T>& m) {
  nlohmann::json j = detail::cloudevent_attributes_json(m, event_type_v<T>);
  j["data"] = m.data;
  return j;
}

}  // namespace herald
