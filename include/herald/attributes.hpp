// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>    // std::lower_bound over the sorted extensions
#include <cstdint>      // integer extension values
#include <optional>     // time is optional
#include <string>       // attribute values
#include <string_view>  // lookups by name
#include <utility>      // std::pair, std::move
#include <variant>      // extension values are string, integer or boolean
#include <vector>       // extensions, kept sorted by name

#include "herald/clock.hpp"
#include "herald/error.hpp"

namespace herald {

/// A CloudEvents extension value; JSON carries strings, integers and booleans.
using extension_value = std::variant<std::string, std::int64_t, bool>;

namespace detail {

// CloudEvents 1.0 §3.1.1: attribute names are lowercase letters a-z and digits 0-9.
constexpr bool is_valid_attribute_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

// Whether `name` has its own member in herald::attributes or is reserved by
// the JSON format; defined below, from the attribute table.
constexpr bool is_known_attribute_name(std::string_view name) noexcept;

}  // namespace detail

/// Extension attributes other than the ones attributes names, sorted by name.
class extension_map {
 public:
  using value_type = std::pair<std::string, extension_value>;
  using const_iterator = std::vector<value_type>::const_iterator;

  /// Sets `name` to `value`. Throws herald::error (invalid_argument) when the
  /// name is not [a-z0-9]+ or is an attribute that has its own member.
  void set(std::string name, extension_value value);

  /// The value of `name`, or nullptr.
  [[nodiscard]] const extension_value* find(std::string_view name) const noexcept {
    auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                               [](const value_type& e, std::string_view n) { return e.first < n; });
    return it != entries_.end() && it->first == name ? &it->second : nullptr;
  }

  /// Removes `name`; returns whether it was there.
  bool erase(std::string_view name) {
    auto it = lower_bound(name);
    if (it == entries_.end() || it->first != name) return false;
    entries_.erase(it);
    return true;
  }

  [[nodiscard]] const_iterator begin() const noexcept { return entries_.begin(); }
  [[nodiscard]] const_iterator end() const noexcept { return entries_.end(); }
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }

  friend bool operator==(const extension_map&, const extension_map&) = default;

 private:
  std::vector<value_type>::iterator lower_bound(std::string_view name) {
    return std::lower_bound(entries_.begin(), entries_.end(), name,
                            [](const value_type& e, std::string_view n) { return e.first < n; });
  }

  std::vector<value_type> entries_;
};

/// The CloudEvents 1.0 context attributes of a message, plus the extensions
/// herald itself uses. An empty string means the attribute is absent (the
/// spec requires every present string attribute to be non-empty).
struct attributes {
  std::string id;      ///< unique per source; herald makes a UUIDv7
  std::string source;  ///< URI-reference of the producer's context
  std::string specversion = "1.0";
  std::string type;  ///< the event type, e.g. "shop.order.placed"
  std::optional<time_point> time;
  std::string subject;
  std::string datacontenttype;
  std::string dataschema;     ///< absolute URI
  std::string traceparent;    ///< W3C trace context
  std::string correlationid;  ///< the id of the message that started the conversation
  std::string causationid;    ///< the id of the message whose handler published this one
  std::string partitionkey;   ///< ordering key for partitioned transports
  extension_map extensions;   ///< every other extension

  friend bool operator==(const attributes&, const attributes&) = default;
};

namespace detail {

// How a string attribute's value is checked, on encode and decode alike.
enum class attribute_rule {
  string,         // a CloudEvents String
  uri_reference,  // source: no spaces or control characters
  absolute_uri,   // dataschema
  traceparent,    // W3C Trace Context
};

struct string_attribute {
  std::string_view name;
  std::string attributes::*member;
  attribute_rule rule;
  bool required;
};

// The string attributes, written once: the encoder, the decoder and the
// JSON view that patterns match all walk this table, in this order.
// specversion (always "1.0") and time (a timestamp) are handled apart.
inline constexpr string_attribute string_attributes[] = {
    {"id", &attributes::id, attribute_rule::string, true},
    {"source", &attributes::source, attribute_rule::uri_reference, true},
    {"type", &attributes::type, attribute_rule::string, true},
    {"subject", &attributes::subject, attribute_rule::string, false},
    {"datacontenttype", &attributes::datacontenttype, attribute_rule::string, false},
    {"dataschema", &attributes::dataschema, attribute_rule::absolute_uri, false},
    {"traceparent", &attributes::traceparent, attribute_rule::traceparent, false},
    {"correlationid", &attributes::correlationid, attribute_rule::string, false},
    {"causationid", &attributes::causationid, attribute_rule::string, false},
    {"partitionkey", &attributes::partitionkey, attribute_rule::string, false},
};

constexpr const string_attribute* find_string_attribute(std::string_view name) noexcept {
  for (const auto& a : string_attributes) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

constexpr bool is_known_attribute_name(std::string_view name) noexcept {
  return find_string_attribute(name) != nullptr || name == "specversion" || name == "time" ||
         name == "data" || name == "data_base64";
}

}  // namespace detail

inline void extension_map::set(std::string name, extension_value value) {
  if (!detail::is_valid_attribute_name(name)) {
    throw error(errc::invalid_argument,
                "extension name '" + name +
                    "' is not valid: CloudEvents extension names use lowercase letters a-z and "
                    "digits 0-9 only");
  }
  if (detail::is_known_attribute_name(name)) {
    throw error(errc::invalid_argument, "'" + name +
                                            "' has its own member in herald::attributes; set "
                                            "that member instead of an extension");
  }
  auto it = lower_bound(name);
  if (it != entries_.end() && it->first == name) {
    it->second = std::move(value);
  } else {
    entries_.emplace(it, std::move(name), std::move(value));
  }
}

}  // namespace herald
