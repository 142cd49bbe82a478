// SPDX-License-Identifier: MIT
#pragma once

// The CloudEvents 1.0 type system (spec §"Type System") for attribute values,
// checked on both sides: what herald encodes, herald decodes.

#include <fmt/core.h>  // code points, in hex, in messages

#include <cstdint>      // Integer
#include <optional>     // the first forbidden code point
#include <string>       // messages
#include <string_view>  // String

namespace herald::detail {

// Integer: a whole number in the signed 32-bit range.
inline constexpr std::int64_t cloudevents_integer_min = -2147483648LL;
inline constexpr std::int64_t cloudevents_integer_max = 2147483647LL;

inline bool is_cloudevents_integer(std::int64_t v) noexcept {
  return v >= cloudevents_integer_min && v <= cloudevents_integer_max;
}

// String: no control character (U+0000–U+001F, U+007F–U+009F), surrogate or
// noncharacter. Returns the first such code point of valid UTF-8 text
// (invalid UTF-8 is refused elsewhere, and stops the scan here).
inline std::optional<char32_t> forbidden_in_string(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const auto lead = static_cast<unsigned char>(s[i]);
    if (lead >= 0x20 && lead < 0x7F) {  // printable ASCII, nearly every byte: one test
      ++i;
      continue;
    }
    std::size_t n = 1;
    char32_t cp = lead;
    if (lead >= 0xF0) {
      n = 4;
      cp = lead & 0x07U;
    } else if (lead >= 0xE0) {
      n = 3;
      cp = lead & 0x0FU;
    } else if (lead >= 0xC0) {
      n = 2;
      cp = lead & 0x1FU;
    }
    if (i + n > s.size()) return std::nullopt;
    for (std::size_t k = 1; k < n; ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3FU);
    }
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0xD800 && cp <= 0xDFFF) ||
        (cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFEU) == 0xFFFEU) {
      return cp;
    }
    i += n;
  }
  return std::nullopt;
}

inline std::string forbidden_string_rule(char32_t cp) {
  return fmt::format(
      "holds U+{:04X}, which a CloudEvents String may not hold (control characters "
      "U+0000-U+001F and U+007F-U+009F, surrogates, noncharacters)",
      static_cast<std::uint32_t>(cp));
}

inline std::string integer_rule(std::int64_t v) {
  return "must be a CloudEvents Integer, from -2147483648 to 2147483647, got " + std::to_string(v);
}

}  // namespace herald::detail
