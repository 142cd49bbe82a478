// SPDX-License-Identifier: MIT
#pragma once

// What the queue statements return, read into herald's types.

#include <algorithm>      // send order
#include <cstddef>        // counts
#include <cstdint>        // attempts
#include <span>           // a worker's batch
#include <unordered_set>  // the acks that held
#include <vector>         // results

#include "herald/clock.hpp"
#include "herald/postgres/detail/connection.hpp"
#include "herald/store/queue_store.hpp"

namespace herald::detail::postgres {

// The messages a lease statement returned, in send order.
inline std::vector<leased_message> leased_rows(const rows& r) {
  std::vector<leased_message> out;
  out.reserve(static_cast<std::size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) {
    out.push_back({r.integer(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3),
                   static_cast<std::uint32_t>(r.integer(i, 4)), r.time(i, 5), r.time(i, 6),
                   r.time(i, 7), r.integer(i, 8)});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  return out;
}

// What the steps of settle_steps (and a lease after them, if `leased`) did.
inline settle_result settled(std::span<const settlement> batch, const std::vector<rows>& r,
                             bool leased) {
  settle_result out;
  out.held.assign(batch.size(), 0);
  std::size_t next = 0;
  bool acks = false;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].what == settlement::ack) {
      acks = true;
    } else {
      out.held[i] = r[next++].affected() == 1 ? 1 : 0;
    }
  }
  if (acks) {
    std::unordered_set<std::int64_t> held;
    const auto& a = r[next++];
    for (int i = 0; i < a.size(); ++i) held.insert(a.integer(i, 0));
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].what == settlement::ack)
        out.held[i] = held.contains(batch[i].message.seq) ? 1 : 0;
    }
  }
  if (leased) out.leased = leased_rows(r[next]);
  return out;
}

inline std::vector<dead_lettered_message> dead_letter_rows(const rows& r) {
  std::vector<dead_lettered_message> out;
  out.reserve(static_cast<std::size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) {
    out.push_back({r.integer(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4),
                   static_cast<std::uint32_t>(r.integer(i, 5)), r.time(i, 6), r.time(i, 7),
                   r.time(i, 8), r.time(i, 9)});
  }
  return out;
}

inline queue_stats stats_row(const rows& r, time_point now) {
  queue_stats s;
  if (r.size() != 1) return s;
  s.dead_lettered = static_cast<std::size_t>(r.integer(0, 0));
  s.in_flight = static_cast<std::size_t>(r.integer(0, 1));
  s.delayed = static_cast<std::size_t>(r.integer(0, 2));
  s.depth = static_cast<std::size_t>(r.integer(0, 3));
  if (!r.null(0, 4)) s.oldest_age = now - r.time(0, 4);
  if (!r.null(0, 5)) s.lag = now - r.time(0, 5);
  return s;
}

}  // namespace herald::detail::postgres
