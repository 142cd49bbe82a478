// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>    // std::max
#include <cstddef>      // counts
#include <cstdint>      // partitions, tokens
#include <span>         // the rows as read
#include <string>       // owners
#include <string_view>  // the claiming owner
#include <vector>       // plans

#include "herald/clock.hpp"
#include "herald/store/outbox_store.hpp"

namespace herald::detail {

// One partition's lease as a store keeps it; owner empty: free.
struct partition_row {
  std::uint32_t partition = 0;
  std::string owner;
  std::int64_t token = 0;
  time_point until;
};

// What a relay's claim changes, and what it then holds.
struct claim_plan {
  std::vector<partition_row> writes;
  std::vector<partition_lease> held;
};

// A relay's claim, decided inside the store's transaction from every
// partition row and the number of relays alive: the relay renews what it
// holds up to its fair share (ceil(partitions / live)), gives back the rest,
// and takes free or expired partitions up to that share, starting at a
// place its name picks so that relays starting together want different ones.
// A partition taken gets a token no holder had before: a relay that lost it
// can tell, since its token no longer matches.
inline claim_plan plan_claims(std::span<const partition_row> rows, std::size_t live_relays,
                              std::string_view owner, std::uint32_t partitions, time_point now,
                              duration ttl) {
  const std::size_t live = std::max<std::size_t>(live_relays, 1);
  const std::size_t share = (partitions + live - 1) / live;
  std::vector<const partition_row*> by_partition(partitions, nullptr);
  std::int64_t last_token = 0;
  for (const auto& r : rows) {
    if (r.partition < partitions) by_partition[r.partition] = &r;
    last_token = std::max(last_token, r.token);
  }
  claim_plan plan;
  const time_point until = saturating_add(now, ttl);
  auto take = [&](std::uint32_t p, std::int64_t token) {
    plan.writes.push_back({p, std::string(owner), token, until});
    plan.held.push_back({p, token, until});
  };
  for (std::uint32_t p = 0; p < partitions; ++p) {  // renew, up to the share
    const auto* r = by_partition[p];
    if (!r || r->owner != owner || r->until <= now) continue;
    if (plan.held.size() < share) {
      take(p, r->token);
    } else {
      plan.writes.push_back({p, std::string(), r->token, now});  // over the share: give back
    }
  }
  const auto start = static_cast<std::uint32_t>(stable_hash(owner) % (partitions ? partitions : 1));
  for (std::uint32_t i = 0; i < partitions && plan.held.size() < share; ++i) {
    const std::uint32_t p = (start + i) % partitions;
    const auto* r = by_partition[p];
    const bool free = !r || r->owner.empty() || r->until <= now;
    if (free) take(p, ++last_token);
  }
  return plan;
}

}  // namespace herald::detail
