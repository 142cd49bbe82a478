// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>      // counting
#include <cstddef>        // counts
#include <cstdint>        // sequence numbers, lease tokens
#include <map>            // messages in send order
#include <mutex>          // one process, many workers
#include <optional>       // redrive one or all
#include <span>           // batches
#include <string>         // names
#include <string_view>    // lookups
#include <unordered_map>  // queues by name
#include <utility>        // std::move
#include <vector>         // results

#include "herald/clock.hpp"
#include "herald/store/queue_store.hpp"

namespace herald {

/// A queue store in this process's memory: the same rules as the durable
/// stores, nothing survives the process. For tests and for work that may be lost.
class memory_store {
 private:
  struct record {
    std::int64_t seq = 0;
    std::string id;
    std::string body;
    std::string group;
    time_point enqueued_at;
    time_point available_at;
    time_point lease_until;
    std::int64_t lease = 0;
    std::uint32_t attempts = 0;
    time_point first_attempt_at;
    time_point last_attempt_at;
    std::string last_error;
    bool dead = false;
    time_point dead_at;
  };

  struct dedup_entry {
    time_point expires_at;
    std::string id;
  };

  struct staged {
    std::string queue;
    record message;
    std::string deduplication_id;
    time_point dedup_expires_at;
  };

 public:
  using queue_store_concept = queue_store_tag;

  /// Holds the store for its lifetime; its sends take effect at commit().
  class transaction {
   public:
    transaction(transaction&&) noexcept = default;
    transaction& operator=(transaction&&) noexcept = default;
    ~transaction() = default;

    void commit() {
      for (auto& s : staged_) store_->place(std::move(s));
      staged_.clear();
      lock_ = {};
    }

   private:
    friend class memory_store;
    explicit transaction(memory_store& store) : store_(&store), lock_(store.mutex_) {}
    memory_store* store_;
    std::unique_lock<std::recursive_mutex> lock_;
    std::vector<staged> staged_;
  };

  memory_store() = default;
  memory_store(const memory_store&) = delete;
  memory_store& operator=(const memory_store&) = delete;

  [[nodiscard]] transaction begin() { return transaction(*this); }

  std::vector<enqueue_result> enqueue(transaction& tx, std::string_view queue,
                                      std::span<const queue_message_draft> drafts, time_point now,
                                      duration dedup_window) {
    std::vector<enqueue_result> results;
    results.reserve(drafts.size());
    auto* q = find(queue);
    // Expired ids are forgotten as sends go on, as the SQLite store does, so
    // that memory follows the ids inside the window, not every id ever sent.
    if (q && ++enqueues_ % 256 == 0) {
      std::erase_if(q->dedup, [&](const auto& entry) { return entry.second.expires_at <= now; });
    }
    for (const auto& d : drafts) {
      if (auto original = duplicate_of(tx, q, queue, d.deduplication_id, now)) {
        results.push_back({std::move(*original), true});
        continue;
      }
      record r;
      r.seq = ++last_seq_;
      r.id = d.id;
      r.body = d.body;
      r.group = d.group;
      r.enqueued_at = now;
      r.available_at = d.available_at;
      tx.staged_.push_back({std::string(queue), std::move(r), d.deduplication_id,
                            saturating_add(now, dedup_window)});
      results.push_back({d.id, false});
    }
    return results;
  }

  std::vector<leased_message> lease(std::string_view queue, std::size_t max, time_point now,
                                    duration visibility) {
    std::lock_guard lock(mutex_);
    std::vector<leased_message> out;
    auto* q = find(queue);
    if (!q) return out;
    std::unordered_map<std::string_view, bool> group_blocked;  // a group's head decides
    for (auto& [seq, r] : q->messages) {
      if (out.size() >= max) break;
      if (r.dead) continue;
      if (!r.group.empty()) {
        auto [it, first] = group_blocked.try_emplace(r.group, false);
        if (!first) continue;  // not the head of its group
      }
      if (r.available_at > now || r.lease_until > now) continue;
      r.lease = ++last_lease_;
      r.lease_until = saturating_add(now, visibility);
      ++r.attempts;
      if (r.attempts == 1) r.first_attempt_at = now;
      r.last_attempt_at = now;
      out.push_back({r.seq, r.id, r.body, r.group, r.attempts, r.enqueued_at, r.first_attempt_at,
                     r.lease_until, r.lease});
    }
    return out;
  }

  bool ack(std::string_view queue, const leased_message& m) {
    std::lock_guard lock(mutex_);
    auto* r = held(queue, m);
    if (!r) return false;
    find(queue)->messages.erase(m.seq);
    return true;
  }

  bool extend(std::string_view queue, const leased_message& m, time_point until) {
    std::lock_guard lock(mutex_);
    auto* r = held(queue, m);
    if (!r) return false;
    // Never shorter: a clock behind the one that leased must not hand the
    // message to another worker while this one still runs it.
    r->lease_until = std::max(r->lease_until, until);
    return true;
  }

  bool retry(std::string_view queue, const leased_message& m, time_point available_at,
             std::string_view error) {
    std::lock_guard lock(mutex_);
    auto* r = held(queue, m);
    if (!r) return false;
    r->lease = 0;
    r->lease_until = {};
    r->available_at = available_at;
    r->last_error = error;
    return true;
  }

  bool dead_letter(std::string_view queue, const leased_message& m, std::string_view reason,
                   time_point now) {
    std::lock_guard lock(mutex_);
    auto* r = held(queue, m);
    if (!r) return false;
    r->lease = 0;
    r->lease_until = {};
    r->dead = true;
    r->dead_at = now;
    r->last_error = reason;
    return true;
  }

  std::vector<dead_lettered_message> dead_letters(std::string_view queue, std::size_t limit) {
    std::lock_guard lock(mutex_);
    std::vector<dead_lettered_message> out;
    if (auto* q = find(queue)) {
      for (const auto& [seq, r] : q->messages) {
        if (out.size() >= limit) break;
        if (!r.dead) continue;
        out.push_back({r.seq, r.id, r.body, r.group, r.last_error, r.attempts, r.enqueued_at,
                       r.first_attempt_at, r.last_attempt_at, r.dead_at});
      }
    }
    return out;
  }

  std::size_t redrive(std::string_view queue, std::optional<std::int64_t> which, time_point now) {
    std::lock_guard lock(mutex_);
    auto* q = find(queue);
    if (!q) return 0;
    std::vector<record> moved;
    for (auto it = q->messages.begin(); it != q->messages.end();) {
      if (it->second.dead && (!which || *which == it->first)) {
        moved.push_back(std::move(it->second));
        it = q->messages.erase(it);
      } else {
        ++it;
      }
    }
    // Back at the end of the queue (and of its group), as if sent now.
    for (auto& r : moved) {
      record fresh;
      fresh.seq = ++last_seq_;
      fresh.id = std::move(r.id);
      fresh.body = std::move(r.body);
      fresh.group = std::move(r.group);
      fresh.enqueued_at = r.enqueued_at;
      fresh.available_at = now;
      q->messages.emplace(fresh.seq, std::move(fresh));
    }
    return moved.size();
  }

  std::size_t purge_dead_letters(std::string_view queue) {
    std::lock_guard lock(mutex_);
    auto* q = find(queue);
    return q ? std::erase_if(q->messages, [](const auto& entry) { return entry.second.dead; }) : 0;
  }

  /// How many deduplication ids the store remembers for `queue`, expired
  /// ones not yet forgotten included: a diagnostic.
  [[nodiscard]] std::size_t remembered_deduplication_ids(std::string_view queue) {
    std::lock_guard lock(mutex_);
    auto* q = find(queue);
    return q ? q->dedup.size() : 0;
  }

  queue_stats stats(std::string_view queue, time_point now) {
    std::lock_guard lock(mutex_);
    queue_stats s;
    auto* q = find(queue);
    if (!q) return s;
    time_point oldest = now;
    for (const auto& [seq, r] : q->messages) {
      if (r.dead) {
        ++s.dead_lettered;
        continue;
      }
      oldest = std::min(oldest, r.enqueued_at);
      if (r.lease_until > now) {
        ++s.in_flight;
      } else if (r.available_at > now) {
        ++s.delayed;
      } else {
        ++s.depth;
      }
    }
    s.oldest_age = now - oldest;
    return s;
  }

 private:
  struct queue_state {
    std::map<std::int64_t, record> messages;
    std::unordered_map<std::string, dedup_entry> dedup;
  };

  queue_state* find(std::string_view queue) {
    auto it = queues_.find(std::string(queue));
    return it == queues_.end() ? nullptr : &it->second;
  }

  // The record if `m`'s lease is still the current one.
  record* held(std::string_view queue, const leased_message& m) {
    auto* q = find(queue);
    if (!q) return nullptr;
    auto it = q->messages.find(m.seq);
    if (it == q->messages.end() || it->second.lease != m.lease || it->second.dead) return nullptr;
    return &it->second;
  }

  // The id of the message sent with this deduplication id inside its window, if any.
  static std::optional<std::string> duplicate_of(const transaction& tx, const queue_state* q,
                                                 std::string_view queue,
                                                 const std::string& dedup_id, time_point now) {
    if (dedup_id.empty()) return std::nullopt;
    for (const auto& s : tx.staged_) {
      if (s.queue == queue && s.deduplication_id == dedup_id) return s.message.id;
    }
    if (q) {
      auto it = q->dedup.find(dedup_id);
      if (it != q->dedup.end() && it->second.expires_at > now) return it->second.id;
    }
    return std::nullopt;
  }

  void place(staged s) {
    auto& q = queues_[s.queue];
    if (!s.deduplication_id.empty()) {
      q.dedup[s.deduplication_id] = {s.dedup_expires_at, s.message.id};
    }
    auto seq = s.message.seq;
    q.messages.emplace(seq, std::move(s.message));
  }

  // Recursive, as the SQLite store's: the thread holding an open transaction
  // may still call the store (stats(), a lease) without deadlocking itself.
  std::recursive_mutex mutex_;
  std::unordered_map<std::string, queue_state> queues_;
  std::int64_t last_seq_ = 0;
  std::int64_t last_lease_ = 0;
  std::uint64_t enqueues_ = 0;
};

static_assert(queue_store<memory_store>);

}  // namespace herald
