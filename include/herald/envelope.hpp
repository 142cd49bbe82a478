// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>   // binary data bytes
#include <optional>  // data may be absent
#include <vector>    // binary data

// The whole of nlohmann/json, not json_fwd: an envelope holds its JSON data
// by value. Only this header and codec.hpp include it; the bus does not.
#include <nlohmann/json.hpp>

#include "herald/attributes.hpp"

namespace herald {

/// A CloudEvent as it travels between processes: the attributes and the
/// payload as JSON ("data") or as bytes ("data_base64" on the wire), never
/// both. encode_envelope / decode_envelope (codec.hpp) turn it into bytes.
struct envelope : attributes {
  std::optional<nlohmann::json> data;
  std::optional<std::vector<std::uint8_t>> data_base64;  ///< decoded bytes

  friend bool operator==(const envelope&, const envelope&) = default;
};

}  // namespace herald
