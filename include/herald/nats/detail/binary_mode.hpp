// SPDX-License-Identifier: MIT
#pragma once

// CloudEvents' binary mode for NATS (the NATS protocol binding): attributes
// as `ce-` headers, `datacontenttype` as `content-type`, data as the body.
// herald's topics speak structured mode; the transport turns one into the
// other at the edge, so that other CloudEvents SDKs on the same subjects
// understand herald's messages and herald theirs.

#include <nats/nats.h>

#include <cstdint>            // bytes
#include <cstdlib>            // std::free of libnats' key array
#include <nlohmann/json.hpp>  // the structured envelope
#include <optional>           // not a binary-mode message
#include <string>             // headers, bodies
#include <string_view>        // content types
#include <utility>            // header pairs
#include <vector>             // bytes of data_base64

#include "herald/detail/base64.hpp"

namespace herald::detail {

inline bool json_content_type(std::string_view type) {
  return type.empty() || type.find("json") != std::string_view::npos;
}

// A structured envelope in binary mode: its headers and body.
struct binary_message {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

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
      out.headers.emplace_back("ce-" + name,
                               value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
  if (auto data = event.find("data"); data != event.end()) {
    out.body = data->is_string() && !json_content_type(content_type) ? data->get<std::string>()
                                                                     : data->dump();
    if (content_type.empty()) content_type = "application/json";
  }
  if (!content_type.empty()) out.headers.emplace_back("content-type", content_type);
  return out;
}

// The structured envelope of a binary-mode message (one with a
// `ce-specversion` header, in any case); nullopt for any other.
inline std::optional<std::string> from_binary_mode(natsMsg* msg) {
  // Header names, lowercased: other clients may write Ce-Specversion or Content-Type.
  std::vector<std::pair<std::string, std::string>> headers;
  const char** keys = nullptr;
  int count = 0;
  if (natsMsgHeader_Keys(msg, &keys, &count) != NATS_OK) return std::nullopt;
  for (int i = 0; i < count; ++i) {
    const char* value = nullptr;
    if (natsMsgHeader_Get(msg, keys[i], &value) != NATS_OK || !value) continue;
    std::string name = keys[i];
    for (auto& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    headers.emplace_back(std::move(name), value);
  }
  std::free(static_cast<void*>(keys));
  nlohmann::json event = nlohmann::json::object();
  std::string content_type;
  for (const auto& [name, value] : headers) {
    if (name == "content-type") {
      content_type = value;
      event["datacontenttype"] = value;
    } else if (name.size() > 3 && name.compare(0, 3, "ce-") == 0) {
      event[name.substr(3)] = value;
    }
  }
  if (!event.contains("specversion")) return std::nullopt;
  const char* data = natsMsg_GetData(msg);
  const auto size = static_cast<std::size_t>(natsMsg_GetDataLength(msg));
  if (size > 0) {
    const std::string body(data, size);
    if (json_content_type(content_type)) {
      // Bytes that are not JSON stay what they are: the decoder says so, naming data.
      auto parsed = nlohmann::json::parse(body, nullptr, false);
      event["data"] = parsed.is_discarded() ? nlohmann::json(body) : std::move(parsed);
    } else if (content_type.rfind("text/", 0) == 0) {
      event["data"] = body;
    } else {
      std::string encoded;
      append_base64(encoded, std::vector<std::uint8_t>(body.begin(), body.end()));
      event["data_base64"] = encoded;
    }
  }
  return event.dump();
}

}  // namespace herald::detail
