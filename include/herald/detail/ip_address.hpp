// SPDX-License-Identifier: MIT
#pragma once

#include <array>        // 16 address bytes
#include <cstdint>      // bytes
#include <optional>     // parse results
#include <string_view>  // text

namespace herald::detail {

// An IPv4 address is kept as its IPv4-mapped IPv6 form (RFC 4291 §2.5.5.2),
// so one comparison serves both families.
struct ip_address {
  std::array<std::uint8_t, 16> bytes{};
  bool v4 = false;
};

inline std::optional<ip_address> parse_ipv4(std::string_view s) {
  ip_address a;
  a.v4 = true;
  a.bytes[10] = a.bytes[11] = 0xff;
  std::size_t pos = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (pos >= s.size() || s[pos] != '.') return std::nullopt;
      ++pos;
    }
    std::size_t start = pos;
    int value = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9' && pos - start < 3) {
      value = value * 10 + (s[pos] - '0');
      ++pos;
    }
    // No empty parts, no leading zeros (they read as octal elsewhere), no overflow.
    if (pos == start || value > 255 || (pos - start > 1 && s[start] == '0')) return std::nullopt;
    a.bytes[12 + static_cast<std::size_t>(part)] = static_cast<std::uint8_t>(value);
  }
  if (pos != s.size()) return std::nullopt;
  return a;
}

// RFC 4291 §2.2 text forms, including "::" and a trailing dotted IPv4.
inline std::optional<ip_address> parse_ipv6(std::string_view s) {
  std::array<std::uint16_t, 8> groups{};
  int count = 0, gap = -1;
  std::size_t pos = 0;
  if (s.substr(0, 2) == "::") {
    gap = 0;
    pos = 2;
    if (pos == s.size()) return ip_address{};
  }
  while (pos < s.size()) {
    if (count == 8) return std::nullopt;
    // A dotted IPv4 tail fills the last two groups.
    std::size_t next_colon = s.find(':', pos);
    std::string_view token =
        s.substr(pos, next_colon == std::string_view::npos ? s.npos : next_colon - pos);
    if (token.find('.') != std::string_view::npos) {
      if (next_colon != std::string_view::npos || count > 6) return std::nullopt;
      auto v4 = parse_ipv4(token);
      if (!v4) return std::nullopt;
      groups[static_cast<std::size_t>(count++)] =
          static_cast<std::uint16_t>(v4->bytes[12] << 8 | v4->bytes[13]);
      groups[static_cast<std::size_t>(count++)] =
          static_cast<std::uint16_t>(v4->bytes[14] << 8 | v4->bytes[15]);
      pos = s.size();
      break;
    }
    if (token.empty() || token.size() > 4) return std::nullopt;
    std::uint16_t value = 0;
    for (char c : token) {
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0) return std::nullopt;
      value = static_cast<std::uint16_t>(value * 16 + d);
    }
    groups[static_cast<std::size_t>(count++)] = value;
    pos += token.size();
    if (pos == s.size()) break;
    ++pos;  // the ':'
    if (pos < s.size() && s[pos] == ':') {
      if (gap >= 0) return std::nullopt;  // "::" at most once
      gap = count;
      ++pos;
    } else if (pos == s.size()) {
      return std::nullopt;  // a single trailing ':'
    }
  }
  if (gap < 0 ? count != 8 : count > 7) return std::nullopt;
  ip_address a;
  std::array<std::uint16_t, 8> full{};
  int tail = gap < 0 ? 0 : count - gap;
  for (int i = 0; i < (gap < 0 ? count : gap); ++i)
    full[static_cast<std::size_t>(i)] = groups[static_cast<std::size_t>(i)];
  for (int i = 0; i < tail; ++i)
    full[static_cast<std::size_t>(8 - tail + i)] = groups[static_cast<std::size_t>(gap + i)];
  for (std::size_t i = 0; i < 8; ++i) {
    a.bytes[2 * i] = static_cast<std::uint8_t>(full[i] >> 8);
    a.bytes[2 * i + 1] = static_cast<std::uint8_t>(full[i]);
  }
  return a;
}

inline std::optional<ip_address> parse_ip(std::string_view s) {
  return s.find(':') == std::string_view::npos ? parse_ipv4(s) : parse_ipv6(s);
}

// A CIDR block: the network's address and how many leading bits must match.
struct cidr_block {
  ip_address network;
  int prefix_bits = 0;  // counted in the 128-bit form

  // An IPv4 address and its IPv4-mapped IPv6 form (::ffff:a.b.c.d, what a
  // dual-stack socket reports for an IPv4 peer) are one address (RFC 4291
  // §2.5.5.2): both are kept in the mapped form, so the bits decide alone.
  [[nodiscard]] bool contains(const ip_address& a) const noexcept {
    int bits = prefix_bits;
    for (std::size_t i = 0; bits > 0; ++i, bits -= 8) {
      auto mask = static_cast<std::uint8_t>(bits >= 8 ? 0xff : 0xff << (8 - bits));
      if ((a.bytes[i] & mask) != (network.bytes[i] & mask)) return false;
    }
    return true;
  }
};

inline std::optional<cidr_block> parse_cidr(std::string_view s) {
  std::size_t slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto address = parse_ip(s.substr(0, slash));
  std::string_view length = s.substr(slash + 1);
  if (!address || length.empty() || length.size() > 3) return std::nullopt;
  int bits = 0;
  for (char c : length) {
    if (c < '0' || c > '9') return std::nullopt;
    bits = bits * 10 + (c - '0');
  }
  int max_bits = address->v4 ? 32 : 128;
  if (bits > max_bits) return std::nullopt;
  return cidr_block{*address, address->v4 ? 96 + bits : bits};
}

}  // namespace herald::detail
