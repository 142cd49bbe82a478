// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>      // counting
#include <cstddef>        // counts
#include <cstdint>        // sequence numbers, lease tokens
#include <functional>     // changes kept beside the store, undone on rollback
#include <map>            // messages in send order
#include <memory>         // state attached to the store
#include <mutex>          // one process, many workers
#include <optional>       // redrive one or all
#include <span>           // batches
#include <string>         // names
#include <string_view>    // lookups
#include <thread>         // a transaction belongs to its thread
#include <typeindex>      // attached state, by type
#include <unordered_map>  // queues by name
#include <utility>        // std::move, std::exchange
#include <vector>         // results

#include "herald/clock.hpp"
#include "herald/error.hpp"
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

  // One store change made inside an open transaction, and how to undo it.
  struct undo_entry {
    std::string queue;
    std::int64_t seq = 0;
    std::optional<record> before;             // the record before; none: it was new
    std::string dedup_id;                     // or a deduplication claim:
    std::optional<dedup_entry> dedup_before;  //   the claim before it
    std::function<void()> revert{};           // or a caller's own change (on_rollback)
  };

 public:
  using queue_store_concept = queue_store_tag;

  /// Holds the store for its lifetime: other threads wait, and calls on this
  /// thread join it (their changes commit or roll back with it); a begin()
  /// inside it is a nested transaction. Belongs to the thread that began it:
  /// used from another it throws errc::invalid_argument; destroyed on another
  /// (it holds the store's lock, which only its thread can release) it ends
  /// the process with a sentence.
  class transaction {
   public:
    transaction(transaction&& other) noexcept
        : store_(std::exchange(other.store_, nullptr)),
          level_(other.level_),
          thread_(other.thread_),
          lock_(std::move(other.lock_)) {}
    transaction& operator=(transaction&&) = delete;
    ~transaction() {
      if (!store_) return;
      if (thread_ != std::this_thread::get_id())
        detail::destroyed_on_another_thread("memory store");
      store_->end(level_, false);
    }

    /// Throws errc::invalid_argument, and changes nothing, on another thread.
    void commit() {
      if (!store_) {
        throw error(errc::invalid_argument,
                    "memory store: commit() on a transaction that already ended");
      }
      detail::check_thread(thread_, "memory store");
      std::exchange(store_, nullptr)->end(level_, true);
      lock_ = {};
    }

    /// The store that made it.
    [[nodiscard]] const memory_store* store() const noexcept { return store_; }
    /// The thread that began it, the only one that may use and end it.
    [[nodiscard]] std::thread::id thread() const noexcept { return thread_; }

   private:
    friend class memory_store;
    explicit transaction(memory_store& store) : store_(&store), lock_(store.mutex_) {
      level_ = store.levels_.size();
      store.levels_.push_back(store.undo_.size());
    }
    memory_store* store_;
    std::size_t level_ = 0;
    std::thread::id thread_ = std::this_thread::get_id();
    std::unique_lock<std::recursive_mutex> lock_;
  };

  memory_store() = default;
  memory_store(const memory_store&) = delete;
  memory_store& operator=(const memory_store&) = delete;

  [[nodiscard]] transaction begin() { return transaction(*this); }

  std::vector<enqueue_result> enqueue(transaction& tx, std::string_view queue,
                                      std::span<const queue_message_draft> drafts, time_point now,
                                      duration dedup_window) {
    detail::check_transaction(tx, this, "memory store");
    detail::check_send(queue, drafts);
    std::vector<enqueue_result> results;
    results.reserve(drafts.size());
    auto& q = queues_[std::string(queue)];
    // Expired ids are forgotten as sends go on, as the SQLite store does, so
    // that memory follows the ids inside the window, not every id ever sent.
    // (Not undone by a rollback: they were expired either way.)
    if (++enqueues_ % 256 == 0) {
      std::erase_if(q.dedup, [&](const auto& entry) { return entry.second.expires_at <= now; });
    }
    for (const auto& d : drafts) {
      if (!d.deduplication_id.empty()) {
        auto it = q.dedup.find(d.deduplication_id);
        if (it != q.dedup.end() && it->second.expires_at > now) {
          results.push_back({it->second.id, true});
          continue;
        }
        undo_entry u{std::string(queue), 0, std::nullopt, d.deduplication_id, std::nullopt, {}};
        if (it != q.dedup.end()) u.dedup_before = it->second;
        journal(std::move(u));
        q.dedup[d.deduplication_id] = {saturating_add(now, dedup_window), d.id};
      }
      record r;
      r.seq = ++last_seq_;
      r.id = d.id;
      r.body = d.body;
      r.group = d.group;
      r.enqueued_at = now;
      r.available_at = d.available_at;
      journal({std::string(queue), r.seq, std::nullopt, {}, std::nullopt, {}});
      q.messages.emplace(r.seq, std::move(r));
      results.push_back({d.id, false});
    }
    arrivals_.notify(queue);
    return results;
  }

  /// Wakes this process's idle workers of a queue when a message is sent to it.
  [[nodiscard]] arrival_signal& arrivals() noexcept { return arrivals_; }

  /// State that parts built on the store keep beside it (the outbox's and
  /// inbox's tables on memory): one `State` per store, made on first use,
  /// living as long as the store, so every object over the store sees it.
  /// Guard it with transactions of the store, as its own tables are.
  template <class State>
  State& attached() {
    std::lock_guard lock(mutex_);
    auto& slot = attached_[std::type_index(typeid(State))];
    if (!slot) slot = std::make_shared<State>();
    return *static_cast<State*>(slot.get());
  }

  /// Calls `revert` if `tx` (or a transaction it is nested in) rolls back:
  /// state kept beside the store (the outbox and inbox on memory) commits
  /// and rolls back with it.
  void on_rollback(transaction& tx, std::function<void()> revert) {
    detail::check_transaction(tx, this, "memory store");
    journal({{}, 0, std::nullopt, {}, std::nullopt, std::move(revert)});
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
      touch(queue, r);
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
    touch(queue, *r);
    find(queue)->messages.erase(m.seq);
    return true;
  }

  bool extend(std::string_view queue, const leased_message& m, time_point until) {
    std::lock_guard lock(mutex_);
    auto* r = held(queue, m);
    if (!r) return false;
    touch(queue, *r);
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
    touch(queue, *r);
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
    touch(queue, *r);
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
        touch(queue, it->second);
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
      journal({std::string(queue), fresh.seq, std::nullopt, {}, std::nullopt, {}});
      q->messages.emplace(fresh.seq, std::move(fresh));
    }
    if (!moved.empty()) arrivals_.notify(queue);
    return moved.size();
  }

  std::size_t purge_dead_letters(std::string_view queue) {
    std::lock_guard lock(mutex_);
    auto* q = find(queue);
    if (!q) return 0;
    return std::erase_if(q->messages, [&](const auto& entry) {
      if (entry.second.dead) touch(queue, entry.second);
      return entry.second.dead;
    });
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
        s.lag = std::max(s.lag, now - r.available_at);
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

  // Inside an open transaction, remembers how to undo a change; outside, a
  // change is final at once.
  void journal(undo_entry u) {
    if (!levels_.empty()) undo_.push_back(std::move(u));
  }
  void touch(std::string_view queue, const record& r) {
    if (!levels_.empty()) undo_.push_back({std::string(queue), r.seq, r, {}, std::nullopt, {}});
  }

  void undo(undo_entry& u) {
    if (u.revert) {
      u.revert();
      return;
    }
    auto& q = queues_[u.queue];
    if (!u.dedup_id.empty()) {
      if (u.dedup_before) {
        q.dedup[u.dedup_id] = std::move(*u.dedup_before);
      } else {
        q.dedup.erase(u.dedup_id);
      }
    } else if (u.before) {
      q.messages.insert_or_assign(u.seq, std::move(*u.before));
    } else {
      q.messages.erase(u.seq);
    }
  }

  // Ends the transaction at `level` and those begun inside it.
  void end(std::size_t level, bool commit) {
    if (level >= levels_.size()) return;  // an outer one already ended it
    if (!commit) {
      for (std::size_t mark = levels_[level]; undo_.size() > mark; undo_.pop_back()) {
        undo(undo_.back());
      }
    }
    levels_.resize(level);
    if (levels_.empty()) undo_.clear();
  }

  // Recursive: the thread holding an open transaction joins it with every
  // call, as with the SQLite store, instead of deadlocking itself.
  std::recursive_mutex mutex_;
  std::map<std::type_index, std::shared_ptr<void>> attached_;
  std::vector<std::size_t> levels_;  // open transactions: where each one's undo entries start
  std::vector<undo_entry> undo_;
  arrival_signal arrivals_;
  std::unordered_map<std::string, queue_state> queues_;
  std::int64_t last_seq_ = 0;
  std::int64_t last_lease_ = 0;
  std::uint64_t enqueues_ = 0;
};

static_assert(queue_store<memory_store>);

}  // namespace herald
