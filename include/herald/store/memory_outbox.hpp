// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>    // a deferral never shortens a wait
#include <cstddef>      // counts
#include <cstdint>      // sequence numbers
#include <map>          // messages in seq order, claimed ids
#include <optional>     // release one or all
#include <set>          // keys waiting behind their head
#include <span>         // batches
#include <string>       // keys, owners
#include <string_view>  // lookups
#include <utility>      // std::pair
#include <vector>       // results

#include "herald/clock.hpp"
#include "herald/store/detail/partition_claims.hpp"
#include "herald/store/memory_store.hpp"
#include "herald/store/outbox_store.hpp"

namespace herald {

/// The outbox on a memory_store: staged messages live beside its queues (in
/// state attached to the store, which every outbox over it shares) and commit
/// or roll back with its transactions.
template <>
class outbox_storage<memory_store> {
 public:
  using transaction = memory_store::transaction;

  explicit outbox_storage(memory_store& store)
      : store_(&store), state_(&store.attached<tables>()) {}

  void stage(transaction& tx, std::span<const outbox_draft> drafts) {
    detail::check_transaction(tx, store_, "memory store");
    detail::check_stage(drafts);
    for (const auto& d : drafts) {
      const std::int64_t seq = ++state_->last_seq;
      entry e;
      e.record = {seq, d.id, d.destination, d.key, d.partition, d.body, 0, d.staged_at};
      state_->rows.emplace(seq, std::move(e));
      store_->on_rollback(tx, [state = state_, seq] { state->rows.erase(seq); });
    }
  }

  std::vector<partition_lease> claim(std::string_view owner, std::uint32_t partitions,
                                     time_point now, duration ttl) {
    auto lock = store_->begin();
    state_->relays[std::string(owner)] = saturating_add(now, ttl);
    std::size_t live = 0;
    for (const auto& [name, until] : state_->relays) {
      if (until > now) ++live;
    }
    std::vector<detail::partition_row> rows;
    for (const auto& [p, row] : state_->partitions) rows.push_back(row);
    auto plan = detail::plan_claims(rows, live, owner, partitions, now, ttl);
    for (auto& w : plan.writes) state_->partitions[w.partition] = std::move(w);
    lock.commit();
    return plan.held;
  }

  void agree_partitions(std::uint32_t partitions) {
    auto lock = store_->begin();
    if (state_->partition_count == 0) state_->partition_count = partitions;
    if (state_->partition_count != partitions) {
      detail::partitions_disagree(state_->partition_count, partitions,
                                  "this memory store's outbox");
    }
    lock.commit();
  }

  void leave(std::string_view owner) {
    auto lock = store_->begin();
    state_->relays.erase(std::string(owner));
    for (auto& [p, row] : state_->partitions) {
      if (row.owner == owner) row.owner.clear();
    }
    lock.commit();
  }

  std::vector<outbox_record> pending(std::span<const partition_lease> held, std::size_t max,
                                     time_point now) {
    auto lock = store_->begin();
    std::set<std::uint32_t> mine;
    for (const auto& l : held) {
      auto it = state_->partitions.find(l.partition);
      if (it != state_->partitions.end() && it->second.token == l.token && it->second.until > now) {
        mine.insert(l.partition);
      }
    }
    std::vector<outbox_record> out;
    std::set<std::string_view> waiting;  // keys behind a parked or backing-off head
    for (const auto& [seq, e] : state_->rows) {
      if (out.size() >= max) break;
      if (e.sent || !mine.count(e.record.partition)) continue;
      const bool keyed = !e.record.key.empty();
      if (keyed && waiting.count(e.record.key)) continue;
      if (e.parked || e.not_before > now) {
        if (keyed) waiting.insert(e.record.key);
        continue;
      }
      out.push_back(e.record);
    }
    lock.commit();
    return out;
  }

  std::size_t mark_sent(std::span<const std::int64_t> seqs, time_point now, bool keep) {
    auto lock = store_->begin();
    std::size_t n = 0;
    for (const auto seq : seqs) {
      auto it = state_->rows.find(seq);
      if (it == state_->rows.end() || it->second.sent) continue;
      ++n;
      if (keep) {
        it->second.sent = true;
        it->second.sent_at = now;
      } else {
        state_->rows.erase(it);
      }
    }
    lock.commit();
    return n;
  }

  bool failed(const outbox_record& r, std::string_view why, time_point now, time_point retry_at,
              std::uint32_t park_after) {
    auto lock = store_->begin();
    auto it = state_->rows.find(r.seq);
    if (it == state_->rows.end() || it->second.sent) return false;
    auto& e = it->second;
    ++e.record.attempts;
    e.reason = std::string(why);
    e.not_before = retry_at;
    if (e.record.attempts >= park_after) {
      e.parked = true;
      e.parked_at = now;
    }
    lock.commit();
    return e.parked;
  }

  std::size_t defer(std::span<const std::int64_t> seqs, time_point until) {
    auto lock = store_->begin();
    std::size_t n = 0;
    for (const auto seq : seqs) {
      auto it = state_->rows.find(seq);
      if (it == state_->rows.end() || it->second.sent) continue;
      it->second.not_before = std::max(it->second.not_before, until);
      ++n;
    }
    lock.commit();
    return n;
  }

  std::vector<parked_record> parked(std::size_t limit) {
    auto lock = store_->begin();
    std::vector<parked_record> out;
    for (const auto& [seq, e] : state_->rows) {
      if (out.size() >= limit) break;
      if (e.parked && !e.sent) out.push_back({e.record, e.reason, e.parked_at});
    }
    lock.commit();
    return out;
  }

  std::size_t release(std::optional<std::int64_t> which) {
    auto lock = store_->begin();
    std::size_t n = 0;
    for (auto& [seq, e] : state_->rows) {
      if (!e.parked || (which && *which != seq)) continue;
      e.parked = false;
      e.record.attempts = 0;
      e.not_before = {};
      ++n;
    }
    lock.commit();
    return n;
  }

  std::size_t prune_sent(time_point before, std::size_t limit) {
    auto lock = store_->begin();
    std::size_t n = 0;
    for (auto it = state_->rows.begin(); it != state_->rows.end() && n < limit;) {
      if (it->second.sent && it->second.sent_at < before) {
        it = state_->rows.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    lock.commit();
    return n;
  }

  outbox_stats stats(time_point now) {
    auto lock = store_->begin();
    outbox_stats s;
    for (const auto& [seq, e] : state_->rows) {
      if (e.sent) continue;
      if (e.parked) {
        ++s.parked;
        continue;
      }
      ++s.backlog;
      s.oldest_age = std::max(s.oldest_age, now - e.record.staged_at);
    }
    lock.commit();
    return s;
  }

 private:
  struct entry {
    outbox_record record;
    std::string reason;
    time_point not_before{};
    time_point parked_at{};
    time_point sent_at{};
    bool parked = false;
    bool sent = false;
  };

  struct tables {
    std::int64_t last_seq = 0;
    std::map<std::int64_t, entry> rows;
    std::map<std::uint32_t, detail::partition_row> partitions;
    std::map<std::string, time_point, std::less<>> relays;
    std::uint32_t partition_count = 0;  // 0: no outbox opened yet
  };

  memory_store* store_;
  tables* state_;
};

/// The inbox on a memory_store: claimed ids commit or roll back with its
/// transactions, which other threads wait for, so one duplicate is handled once.
template <>
class inbox_storage<memory_store> {
 public:
  using transaction = memory_store::transaction;

  explicit inbox_storage(memory_store& store)
      : store_(&store), claimed_(&store.attached<claims>()) {}

  bool claim(transaction& tx, std::string_view consumer, std::string_view id, time_point now) {
    detail::check_transaction(tx, store_, "memory store");
    detail::check_claim(consumer, id);
    auto [it, fresh] = claimed_->try_emplace({std::string(consumer), std::string(id)}, now);
    if (!fresh) return false;
    store_->on_rollback(tx, [claimed = claimed_, key = it->first] { claimed->erase(key); });
    return true;
  }

  std::size_t prune(time_point before, std::size_t limit) {
    auto lock = store_->begin();
    std::size_t n = 0;
    for (auto it = claimed_->begin(); it != claimed_->end() && n < limit;) {
      if (it->second < before) {
        it = claimed_->erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    lock.commit();
    return n;
  }

  std::size_t count(std::string_view consumer) {
    auto lock = store_->begin();
    std::size_t n = 0;
    for (const auto& [key, at] : *claimed_) {
      if (key.first == consumer) ++n;
    }
    lock.commit();
    return n;
  }

 private:
  using claims = std::map<std::pair<std::string, std::string>, time_point>;
  memory_store* store_;
  claims* claimed_;
};

}  // namespace herald
