// SPDX-License-Identifier: MIT
#pragma once

// CloudEvents' binary mode for NATS (the NATS protocol binding, draft 1.0.3):
// attributes as `ce-` headers whose values are percent-encoded, data as the
// body. herald's topics speak structured mode; the transport turns one into
// the other at the edge, so that other CloudEvents SDKs on the same subjects
// understand herald's messages and herald theirs. No libnats here: the
// decoder reads plain header pairs and bytes (and a fuzzer runs it so).

#include <cstddef>            // positions
#include <cstdint>            // bytes
#include <nlohmann/json.hpp>  // the structured envelope herald wrote; is a body JSON
#include <optional>           // a malformed escape
#include <set>                // attributes seen
#include <string>             // headers, bodies
#include <string_view>        // content types
#include <utility>            // header pairs
#include <vector>             // headers, bytes of data_base64

#include "herald/detail/base64.hpp"
#include "herald/detail/json_text.hpp"

namespace herald::detail {

inline bool json_content_type(std::string_view type) {
  return type.empty() || type.find("json") != std::string_view::npos;
}

inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

// §3.1.3.2: space, '"', '%' and every byte outside printable ASCII become
// %XY (the bytes of a UTF-8 character one by one, which is what the binding
// asks per character). The result holds no NUL, CR or LF.
inline std::string nats_percent_encode(std::string_view value) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u > 0x20 && u < 0x7f && c != '"' && c != '%') {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 0xf];
    }
  }
  return out;
}

// A header value as the binding reads it: a double-quoted string unquoted
// first (RFC 7230 §3.2.6, which older writers used), then one round of
// percent-decoding, either case of hex. nullopt for a '%' without two hex
// digits. Whether the bytes are UTF-8 is the caller's to check.
inline std::optional<std::string> nats_percent_decode(std::string_view raw) {
  std::string unquoted;
  if (raw.size() >= 2 && raw.front() == '"' && raw.back() == '"') {
    raw = raw.substr(1, raw.size() - 2);
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 1 < raw.size()) ++i;
      unquoted += raw[i];
    }
    raw = unquoted;
  }
  auto digit = [](char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
  };
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '%') {
      out += raw[i];
      continue;
    }
    if (i + 2 >= raw.size()) return std::nullopt;
    const int hi = digit(raw[i + 1]);
    const int lo = digit(raw[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// A structured envelope in binary mode: its headers and body.
struct binary_message {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// `structured` is an envelope herald encoded (valid JSON, valid UTF-8).
inline binary_message to_binary_mode(const std::string& structured) {
  const auto event = nlohmann::json::parse(structured);
  binary_message out;
  std::string content_type;
  for (const auto& [name, value] : event.items()) {
    if (name == "data") {
      continue;
    } else if (name == "data_base64") {
      const auto bytes = decode_base64(value.get<std::string>());
      out.body.assign(bytes->begin(), bytes->end());  // the encoder wrote canonical base64
    } else if (name == "datacontenttype") {
      content_type = value.get<std::string>();
    } else {
      out.headers.emplace_back(
          "ce-" + name,
          nats_percent_encode(value.is_string() ? value.get<std::string>() : value.dump()));
    }
  }
  if (auto data = event.find("data"); data != event.end()) {
    out.body = data->is_string() && !json_content_type(content_type) ? data->get<std::string>()
                                                                     : data->dump();
    if (content_type.empty()) content_type = "application/json";
  }
  if (!content_type.empty()) {
    out.headers.emplace_back("ce-datacontenttype", nats_percent_encode(content_type));
    // And as content-type, where the binding's earlier drafts (and herald
    // before 1.0.3) looked for it: a media type is printable ASCII, written
    // as it is; one that is not goes in ce-datacontenttype only.
    bool printable = true;
    for (const char c : content_type) printable = printable && c >= 0x20 && c < 0x7f;
    if (printable) out.headers.emplace_back("content-type", content_type);
  }
  return out;
}

// What a message's headers and body say in binary mode.
struct binary_event {
  bool binary = false;     // a ce-specversion header, and no CloudEvents content-type
  std::string structured;  // the envelope, when `refusal` is empty
  std::string id;          // ce-id as read, also when the rest did not decode
  std::string refusal;     // why it can never be an envelope
};

using nats_header_list = std::vector<std::pair<std::string, std::string>>;

// The structured envelope of a binary-mode message. Never throws but
// bad_alloc: a body always fits (as JSON when it is JSON and labelled so, as
// a string when it is UTF-8 text/*, as data_base64 otherwise: the exact
// bytes), and a header that is not UTF-8 once decoded, or is malformed, or
// names an attribute twice, is a refusal, which the consumer dead-letters.
inline binary_event decode_binary_mode(const nats_header_list& headers, std::string_view body) {
  binary_event out;
  for (const auto& [name, value] : headers) {
    const auto lower = ascii_lower(name);
    if (lower == "ce-specversion") out.binary = true;
    // §3: a CloudEvents content-type means structured mode, whatever else is there.
    if (lower == "content-type" && ascii_lower(value).rfind("application/cloudevents", 0) == 0) {
      out.binary = false;
      return out;
    }
  }
  if (!out.binary) return out;
  auto refuse = [&](std::string why) {
    if (out.refusal.empty()) out.refusal = std::move(why);
  };
  std::string members;
  std::set<std::string> seen;  // a set: a message may have thousands of headers
  std::optional<std::string> content_type, content_type_header;
  for (const auto& [name, value] : headers) {
    const auto lower = ascii_lower(name);
    if (lower == "content-type") content_type_header = value;
    if (lower.size() <= 3 || lower.compare(0, 3, "ce-") != 0) continue;
    const std::string attribute = lower.substr(3);
    const std::string quoted = "header '" + quote_for_message(name) + "'";
    if (attribute == "data" || attribute == "data_base64") {
      refuse(quoted + " names the data, which binary mode carries as the body");
      continue;
    }
    if (!seen.insert(attribute).second) {
      refuse(quoted + " names the attribute '" + attribute +
             "' a second time (header names are case-insensitive); an attribute has one value");
      continue;
    }
    const auto decoded = nats_percent_decode(value);
    if (!decoded) {
      refuse(quoted + " holds a '%' not followed by two hex digits: '" + quote_for_message(value) +
             "' is not percent-encoded as the NATS binding requires");
      continue;
    }
    if (attribute == "id") out.id = *decoded;
    if (attribute == "datacontenttype") content_type = *decoded;
    if (!members.empty()) members += ',';
    if (!append_json_string(members, attribute)) {
      refuse(quoted + " is not UTF-8");
      continue;
    }
    members += ':';
    if (!append_json_string(members, *decoded)) {
      refuse(quoted + " is not valid UTF-8 once percent-decoded ('" + quote_for_message(*decoded) +
             "'); the NATS binding 1.0.3 requires such a value to be rejected");
    }
  }
  if (!out.refusal.empty()) return out;
  if (!content_type && content_type_header) {
    content_type = *content_type_header;
    members += ",\"datacontenttype\":";
    if (!append_json_string(members, *content_type)) {
      out.refusal =
          "header 'content-type' is not valid UTF-8 ('" + quote_for_message(*content_type) + "')";
      return out;
    }
  }
  const std::string type = content_type ? ascii_lower(*content_type) : std::string();
  if (!body.empty()) {
    // A JSON body goes in as written: the envelope's decoder applies its
    // limits to it (depth, size), and nothing here recurses on it. JSON holds
    // no raw NUL, and nlohmann's lexer would take one for the end.
    if (json_content_type(type) && body.find('\0') == std::string_view::npos &&
        nlohmann::json::accept(body.begin(), body.end())) {
      members += ",\"data\":";
      members.append(body);
    } else {
      const std::size_t before = members.size();
      members += ",\"data\":";
      if (type.rfind("text/", 0) != 0 || !append_json_string(members, body)) {
        // Not JSON where JSON was said, not UTF-8 text, or bytes of another
        // type: carried exactly, as data_base64.
        members.resize(before);
        members += ",\"data_base64\":\"";
        append_base64(members, std::vector<std::uint8_t>(body.begin(), body.end()));
        members += '"';
      }
    }
  }
  out.structured = "{" + members + "}";
  return out;
}

}  // namespace herald::detail
