// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>            // sizes
#include <cstring>            // std::memchr, to find a NUL byte
#include <nlohmann/json.hpp>  // parsing and the payload's to_json/from_json
#include <string>             // encoded bytes
#include <string_view>        // input bytes
#include <utility>            // std::move

#include "herald/attributes.hpp"
#include "herald/detail/base64.hpp"
#include "herald/detail/cloudevents_types.hpp"
#include "herald/detail/json_bounds.hpp"
#include "herald/detail/json_text.hpp"
#include "herald/detail/rfc3339.hpp"
#include "herald/envelope.hpp"
#include "herald/error.hpp"
#include "herald/event.hpp"
#include "herald/message.hpp"
#include "herald/serializable_event.hpp"

namespace herald {

/// Bounds on untrusted input, enforced while parsing so that hostile bytes
/// cannot exhaust memory or the stack. The encoder enforces the same bounds,
/// so that a producer refuses at once what its consumers would refuse.
struct decode_limits {
  std::size_t max_bytes = std::size_t{1} << 20;  ///< the whole document
  std::size_t max_depth = 64;  ///< nesting of objects and arrays, the event being 1
};

/// CloudEvents 1.0 JSON (structured mode). Throws herald::error
/// (invalid_argument) naming the attribute when the envelope could never be
/// decoded: a missing required attribute, text that is not UTF-8, a bad
/// extension name, both data and data_base64, a time outside the years
/// 1678–2261, or a number in data that is NaN or infinite; and
/// (limit_exceeded) when the result would break `limits`, which decoding
/// with the same limits enforces. What this writes, decode_envelope reads.
[[nodiscard]] std::string encode_envelope(const envelope& e, const decode_limits& limits = {});

/// Parses CloudEvents 1.0 JSON. Any violation throws herald::decode_error
/// whose attribute() and what() name the attribute and the rule it broke.
/// Never crashes on any input; safe to call from any thread.
[[nodiscard]] envelope decode_envelope(std::string_view json, const decode_limits& limits = {});

namespace detail {

[[noreturn]] inline void throw_decode(std::string_view attribute, const std::string& rule,
                                      errc code = errc::decode_failed) {
  std::string text = attribute.empty() ? "invalid CloudEvent: " + rule
                                       : "invalid CloudEvent: attribute '" +
                                             quote_for_message(attribute) + "' " + rule;
  throw decode_error(code, std::string(attribute), text);
}

// RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ':'.
inline bool is_absolute_uri(std::string_view s) noexcept {
  std::size_t colon = s.find(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  for (std::size_t i = 0; i < colon; ++i) {
    char c = s[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alpha && (i == 0 || !((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))) {
      return false;
    }
  }
  return true;
}

// A URI never holds a space or a control character (RFC 3986 §2).
inline bool has_uri_forbidden_char(std::string_view s) noexcept {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f) return true;
  }
  return false;
}

// W3C Trace Context §3.2: version-traceid-parentid-flags in lowercase hex;
// version ff, an all-zero trace id and an all-zero parent id are invalid.
inline bool is_valid_traceparent(std::string_view s) noexcept {
  auto hex = [&](std::size_t from, std::size_t n, bool& all_zero) {
    all_zero = true;
    for (std::size_t i = from; i < from + n; ++i) {
      char c = s[i];
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
      if (c != '0') all_zero = false;
    }
    return true;
  };
  if (s.size() < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-') return false;
  bool zero;
  if (!hex(0, 2, zero) || s.substr(0, 2) == "ff") return false;
  if (!hex(3, 32, zero) || zero) return false;
  if (!hex(36, 16, zero) || zero) return false;
  if (!hex(53, 2, zero)) return false;
  if (s.substr(0, 2) == "00") return s.size() == 55;
  return s.size() == 55 || s[55] == '-';  // later versions may append fields
}

// What is wrong with a string attribute's value under its rule, or "" if
// nothing: the encoder and the decoder ask the same question.
// (The characters every String must avoid are checked apart, once per side.)
inline std::string attribute_violation(const string_attribute& a, std::string_view value) {
  switch (a.rule) {
    case attribute_rule::string:
      break;
    case attribute_rule::uri_reference:
      if (has_uri_forbidden_char(value)) {
        return "must be a URI-reference, which holds no spaces or control characters";
      }
      break;
    case attribute_rule::absolute_uri:
      if (!is_absolute_uri(value) || has_uri_forbidden_char(value)) {
        return "must be an absolute URI (scheme:...), got '" + quote_for_message(value) + "'";
      }
      break;
    case attribute_rule::traceparent:
      if (!is_valid_traceparent(value)) {
        return "must be a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>), got '" +
               quote_for_message(value) + "'";
      }
      break;
  }
  return {};
}

inline void append_member(std::string& out, std::string_view name, std::string_view value) {
  out += ",\"";
  out += name;  // names are [a-z0-9_]+ here, checked before: no escaping needed
  out += "\":";
  if (!append_json_string(out, value)) throw_invalid(name, "is not valid UTF-8");
  if (auto bad = forbidden_in_string(value)) throw_invalid(name, forbidden_string_rule(*bad));
}

// Takes the string out of `v` (the DOM is ours to consume). Null is absent.
inline bool take_string(nlohmann::json& v, std::string_view name, std::string& out) {
  if (v.is_null()) return false;
  if (!v.is_string()) throw_decode(name, std::string("must be a string, got ") + v.type_name());
  out = std::move(v.get_ref<std::string&>());
  if (out.empty()) throw_decode(name, "must be a non-empty string");
  return true;
}

// Writes `a` as CloudEvents JSON, `type` standing in for an empty a.type, and
// then the data member that `write_data(out)` appends (or nothing): the one
// writer behind encode_envelope and encode<T>, which needs no envelope copy.
template <class WriteData>
std::string write_envelope(const attributes& a, std::string_view type, const decode_limits& limits,
                           WriteData&& write_data) {
  if (a.specversion != "1.0") throw_invalid("specversion", "must be \"1.0\"");
  std::string out;
  out.reserve(256);
  out += "{\"specversion\":\"1.0\"";
  for (const auto& attribute : string_attributes) {
    std::string_view value = a.*attribute.member;
    if (value.empty() && attribute.member == &attributes::type) value = type;
    if (value.empty()) {
      if (attribute.required) throw_invalid(attribute.name, "is required and must be non-empty");
      continue;
    }
    append_member(out, attribute.name, value);
    if (auto violation = attribute_violation(attribute, value); !violation.empty()) {
      throw_invalid(attribute.name, violation);
    }
  }
  if (a.time) {
    if (!in_rfc3339_range(*a.time)) {
      throw_invalid("time", "is outside the years 1678-2261 (UTC) that herald encodes and decodes");
    }
    out += ",\"time\":\"";
    append_rfc3339(out, *a.time);
    out += '"';
  }
  for (const auto& [name, value] : a.extensions) {
    if (!is_valid_attribute_name(name) || is_known_attribute_name(name)) {
      throw_invalid(name,
                    "is not a valid extension name: use lowercase letters a-z and digits 0-9");
    }
    if (const auto* text = std::get_if<std::string>(&value)) {
      append_member(out, name, *text);
    } else {
      out += ",\"";
      out += name;
      out += "\":";
      if (const auto* number = std::get_if<std::int64_t>(&value)) {
        if (!is_cloudevents_integer(*number)) throw_invalid(name, integer_rule(*number));
        out += std::to_string(*number);
      } else {
        out += std::get<bool>(value) ? "true" : "false";
      }
    }
  }
  write_data(out);
  out += '}';
  if (out.size() > limits.max_bytes) {
    throw_too_big("is " + std::to_string(out.size()) + " bytes, over decode_limits::max_bytes (" +
                  std::to_string(limits.max_bytes) + ")");
  }
  return out;
}

// Appends `,"data":` and the JSON of `data`.
inline void append_data(std::string& out, const nlohmann::json& data, std::size_t max_depth) {
  check_data(data, max_depth);
  out += ",\"data\":";
  try {
    // The serializer writes straight into `out`; dump() would build a copy first.
    nlohmann::detail::serializer<nlohmann::json> writer(
        nlohmann::detail::output_adapter<char>(out), ' ', nlohmann::json::error_handler_t::strict);
    writer.dump(data, false, false, 0);
  } catch (const nlohmann::json::exception& ex) {
    throw_invalid("data", std::string("cannot be written as JSON: ") + ex.what());
  }
}

}  // namespace detail

inline std::string encode_envelope(const envelope& e, const decode_limits& limits) {
  if (e.data && e.data_base64) {
    detail::throw_invalid("data", "and data_base64 are both set; a CloudEvent carries at most one");
  }
  return detail::write_envelope(e, {}, limits, [&](std::string& out) {
    if (e.data) {
      detail::append_data(out, *e.data, limits.max_depth);
    } else if (e.data_base64) {
      out += ",\"data_base64\":\"";
      detail::append_base64(out, *e.data_base64);
      out += '"';
    }
  });
}

inline envelope decode_envelope(std::string_view json, const decode_limits& limits) {
  using detail::throw_decode;
  if (json.size() > limits.max_bytes) {
    throw_decode("",
                 "is " + std::to_string(json.size()) + " bytes, over the limit of " +
                     std::to_string(limits.max_bytes) + " (decode_limits::max_bytes)",
                 errc::limit_exceeded);
  }
  // nlohmann reads a NUL byte as the end of input: what follows it would be
  // ignored, and two parsers would disagree on what this event is.
  if (const void* nul = std::memchr(json.data(), '\0', json.size())) {
    throw_decode("", "holds a NUL byte at offset " +
                         std::to_string(static_cast<const char*>(nul) - json.data()) +
                         "; JSON text never contains one");
  }
  nlohmann::json doc;
  detail::depth_limited_dom builder(doc, limits.max_depth);
  bool parsed =
      nlohmann::json::sax_parse(json, &builder, nlohmann::json::input_format_t::json, true);
  if (builder.too_deep()) {
    throw_decode("",
                 "nests objects and arrays deeper than the limit of " +
                     std::to_string(limits.max_depth) + " (decode_limits::max_depth)",
                 errc::limit_exceeded);
  }
  if (!builder.not_finite().empty()) {
    throw_decode("", "holds the number " + detail::quote_for_message(builder.not_finite()) +
                         ", too large for a 64-bit double");
  }
  if (const auto& twice = builder.duplicate()) {
    if (builder.duplicate_at_top()) {
      throw_decode(*twice,
                   "is given twice; an event names each member once (CloudEvents JSON format "
                   "§3), or two parsers could read two different events");
    }
    throw_decode("data", "holds an object that names the member '" +
                             detail::quote_for_message(*twice) +
                             "' twice; each object names each member once, or two parsers "
                             "could read two different values");
  }
  if (!parsed) throw_decode("", "is not valid JSON: " + builder.syntax_error());
  if (!doc.is_object()) {
    throw_decode("", std::string("must be a JSON object, got ") + doc.type_name());
  }

  envelope e;
  auto& members = doc.get_ref<nlohmann::json::object_t&>();
  // specversion first: it decides which rules apply to the rest.
  auto version = members.find("specversion");
  if (version == members.end() || version->second.is_null()) {
    throw_decode("specversion", "is required");
  }
  if (!version->second.is_string() || version->second.get_ref<const std::string&>() != "1.0") {
    throw_decode("specversion", "must be the string \"1.0\", got " +
                                    detail::quote_for_message(version->second.dump()));
  }

  for (auto& [name, value] : members) {
    std::string_view key = name;
    if (key == "specversion") continue;
    if (key == "data") {
      e.data = std::move(value);
    } else if (key == "data_base64") {
      if (value.is_null()) continue;
      if (!value.is_string()) {
        throw_decode(key, std::string("must be a base64 string, got ") + value.type_name());
      }
      auto bytes = detail::decode_base64(value.get_ref<const std::string&>());
      if (!bytes) throw_decode(key, "is not valid base64 (RFC 4648 §4, with padding)");
      e.data_base64 = std::move(*bytes);
    } else if (const auto* a = detail::find_string_attribute(key)) {
      std::string& out = e.*a->member;
      if (detail::take_string(value, key, out)) {
        if (auto bad = detail::forbidden_in_string(out)) {
          throw_decode(key, detail::forbidden_string_rule(*bad));
        }
        if (auto violation = detail::attribute_violation(*a, out); !violation.empty()) {
          throw_decode(key, violation);
        }
      }
    } else if (key == "time") {
      std::string text;
      if (!detail::take_string(value, key, text)) continue;
      e.time = detail::parse_rfc3339(text);
      if (!e.time) {
        throw_decode(key, "must be an RFC 3339 timestamp such as 2026-11-23T10:15:00Z, got '" +
                              detail::quote_for_message(text) + "'");
      }
    } else {
      if (!detail::is_valid_attribute_name(key)) {
        throw_decode(key,
                     "is not a valid attribute name: CloudEvents attribute names use lowercase "
                     "letters a-z and digits 0-9 only");
      }
      if (value.is_null()) continue;  // JSON format §2.4: null means absent
      if (value.is_string()) {
        if (auto bad = detail::forbidden_in_string(value.get_ref<const std::string&>())) {
          throw_decode(key, detail::forbidden_string_rule(*bad));
        }
        e.extensions.set(name, std::move(value.get_ref<std::string&>()));
      } else if (value.is_boolean()) {
        e.extensions.set(name, value.get<bool>());
      } else if (value.is_number_unsigned() &&
                 value.get<std::uint64_t>() >
                     static_cast<std::uint64_t>(detail::cloudevents_integer_max)) {
        throw_decode(key, "must be a CloudEvents Integer, from -2147483648 to 2147483647, got " +
                              std::to_string(value.get<std::uint64_t>()));
      } else if (value.is_number_integer()) {
        if (!detail::is_cloudevents_integer(value.get<std::int64_t>())) {
          throw_decode(key, detail::integer_rule(value.get<std::int64_t>()));
        }
        e.extensions.set(name, value.get<std::int64_t>());
      } else {
        throw_decode(
            key, std::string("must be a string, an integer or a boolean, got ") +
                     (value.is_number() ? "a number that is not an integer" : value.type_name()));
      }
    }
  }
  for (const auto& a : detail::string_attributes) {
    if (a.required && (e.*a.member).empty()) throw_decode(a.name, "is required");
  }
  if (e.data && e.data_base64) {
    throw_decode("data_base64", "and data are both present; a CloudEvent carries at most one");
  }
  return e;
}

/// The envelope of a typed message: its attributes and its payload as JSON.
template <serializable_event T>
[[nodiscard]] envelope to_envelope(const message<T>& m) {
  envelope e;
  static_cast<attributes&>(e) = m;
  if (e.type.empty()) e.type = std::string(event_type_v<T>);
  e.data = nlohmann::json(m.data);
  return e;
}

/// The typed message in an envelope. Throws herald::decode_error naming
/// "type" when the envelope holds another event type, "data_base64" when the
/// payload is bytes where T wants JSON, and "data" when it is missing or does
/// not convert to T.
template <serializable_event T>
[[nodiscard]] message<T> from_envelope(envelope e) {
  if (e.type != event_type_v<T>) {
    detail::throw_decode("type", "is '" + detail::quote_for_message(e.type) + "', expected '" +
                                     std::string(event_type_v<T>) + "'");
  }
  if (!e.data && e.data_base64) {
    detail::throw_decode("data_base64", "holds " + std::to_string(e.data_base64->size()) +
                                            " bytes where JSON was expected (datacontenttype '" +
                                            detail::quote_for_message(e.datacontenttype) +
                                            "'): " + std::string(event_type_v<T>) +
                                            " decodes from JSON data; the sender must write JSON");
  }
  if (!e.data)
    detail::throw_decode("data", "is required to decode " + std::string(event_type_v<T>));
  message<T> m;
  try {
    m.data = e.data->template get<T>();
  } catch (const nlohmann::json::exception& ex) {
    detail::throw_decode("data",
                         "does not decode as " + std::string(event_type_v<T>) + ": " + ex.what());
  }
  e.data.reset();
  static_cast<attributes&>(m) = std::move(static_cast<attributes&>(e));
  return m;
}

/// What encode_envelope(to_envelope(m), limits) gives, written straight from
/// the message: no envelope copy of its attributes.
template <serializable_event T>
[[nodiscard]] std::string encode(const message<T>& m, const decode_limits& limits = {}) {
  const nlohmann::json data(m.data);
  return detail::write_envelope(m, event_type_v<T>, limits, [&](std::string& out) {
    detail::append_data(out, data, limits.max_depth);
  });
}

/// from_envelope<T>(decode_envelope(json, limits)).
template <serializable_event T>
[[nodiscard]] message<T> decode(std::string_view json, const decode_limits& limits = {}) {
  return from_envelope<T>(decode_envelope(json, limits));
}

}  // namespace herald
