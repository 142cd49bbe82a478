// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>       // civil calendar arithmetic
#include <cstdint>      // field values
#include <optional>     // parse result
#include <string>       // formatted text
#include <string_view>  // input

#include "herald/clock.hpp"

namespace herald::detail {

// The instants herald writes and reads: whole years inside what a 64-bit
// nanosecond time_point holds (1677-09-21 to 2262-04-11), so that what the
// encoder writes the decoder accepts, and the other way round.
inline constexpr std::int64_t rfc3339_first_second =
    std::chrono::sys_days{std::chrono::year{1678} / 1 / 1}.time_since_epoch().count() * 86400;
inline constexpr std::int64_t rfc3339_end_second =  // exclusive
    std::chrono::sys_days{std::chrono::year{2262} / 1 / 1}.time_since_epoch().count() * 86400;

inline constexpr bool in_rfc3339_range(time_point t) noexcept {
  const auto s = std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
  return s >= rfc3339_first_second && s < rfc3339_end_second;
}

// RFC 3339 §5.6 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM). The §5.6 note
// allows lowercase 't' and 'z'. Leap second 60 rolls into the next minute;
// fractions finer than a nanosecond are truncated. Returns nullopt on any
// other input, or on an instant outside the years 1678–2261 (UTC).
inline std::optional<time_point> parse_rfc3339(std::string_view s) noexcept {
  auto digits = [&](std::size_t pos, std::size_t n, int& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int year, month, day, hour, minute, second;
  if (!digits(0, 4, year) || s.size() < 20 || s[4] != '-' || !digits(5, 2, month) || s[7] != '-' ||
      !digits(8, 2, day) || (s[10] != 'T' && s[10] != 't') || !digits(11, 2, hour) ||
      s[13] != ':' || !digits(14, 2, minute) || s[16] != ':' || !digits(17, 2, second)) {
    return std::nullopt;
  }
  if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
  std::chrono::year_month_day date{std::chrono::year{year},
                                   std::chrono::month{static_cast<unsigned>(month)},
                                   std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok()) return std::nullopt;

  std::size_t pos = 19;
  std::int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t first = pos;
    std::int64_t scale = 100'000'000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      nanos += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == first) return std::nullopt;
  }
  if (pos >= s.size()) return std::nullopt;
  std::int64_t offset_minutes = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!digits(pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;

  std::int64_t days = std::chrono::sys_days{date}.time_since_epoch().count();
  std::int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  if (seconds < rfc3339_first_second || seconds >= rfc3339_end_second) return std::nullopt;
  return time_point{std::chrono::duration_cast<duration>(std::chrono::seconds{seconds} +
                                                         std::chrono::nanoseconds{nanos})};
}

// Formats as UTC with 'Z' and only as many fraction digits as needed.
// Precondition: in_rfc3339_range(t) (outside it the arithmetic overflows).
inline void append_rfc3339(std::string& out, time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch());
  auto day = std::chrono::floor<std::chrono::days>(ns);
  std::chrono::year_month_day date{std::chrono::sys_days{day}};
  auto in_day = ns - day;
  auto h = std::chrono::duration_cast<std::chrono::hours>(in_day).count();
  auto m = std::chrono::duration_cast<std::chrono::minutes>(in_day).count() % 60;
  auto sec = std::chrono::duration_cast<std::chrono::seconds>(in_day).count() % 60;
  auto frac = (in_day % std::chrono::seconds{1}).count();

  char buf[40];
  auto put = [&](std::size_t& at, std::int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i) {
      buf[at + static_cast<std::size_t>(i)] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
    at += static_cast<std::size_t>(width);
  };
  std::size_t at = 0;
  put(at, static_cast<int>(date.year()), 4);
  buf[at++] = '-';
  put(at, static_cast<unsigned>(date.month()), 2);
  buf[at++] = '-';
  put(at, static_cast<unsigned>(date.day()), 2);
  buf[at++] = 'T';
  put(at, h, 2);
  buf[at++] = ':';
  put(at, m, 2);
  buf[at++] = ':';
  put(at, sec, 2);
  if (frac != 0) {
    buf[at++] = '.';
    int width = 9;
    while (frac % 10 == 0) {
      frac /= 10;
      --width;
    }
    put(at, frac, width);
  }
  buf[at++] = 'Z';
  out.append(buf, at);
}

}  // namespace herald::detail
