// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>   // lists are swapped while others publish
#include <cstddef>  // slot numbers
#include <cstdint>  // handler ids
#include <mutex>    // serializes writers
#include <vector>   // handler lists, retired lists

#include "herald/bus/detail/route_table.hpp"
#include "herald/detail/dispatch_frame.hpp"
#include "herald/detail/epoch.hpp"
#include "herald/detail/type_index.hpp"

namespace herald::detail {

struct handler_entry {
  std::uint64_t id;
  void* target;
  void (*invoke)(void* target, dispatch_frame& frame);
  void (*destroy)(void* target) noexcept;
};

struct handler_list {
  std::vector<handler_entry> entries;
};

// The lists of a run of consecutive type indexes.
template <std::size_t Size>
struct handler_chunk {
  std::atomic<const handler_list*> lists[Size]{};
};

// The bus's handlers, one list per event type index, and its routes: copied
// on write, so that a publish reads them without a lock. A list a publish may
// still read is retired and freed once no reader can see it (epochs when
// thread-safe; the end of the outermost publish when not). Not a template:
// the typed bus above it is a thin layer. Writers lock; readers never do.
class handler_table {
 public:
  explicit handler_table(bool thread_safe) noexcept : thread_safe_(thread_safe) {
    for (auto& c : chunks_) c.store(&no_lists, std::memory_order_relaxed);
  }
  handler_table(const handler_table&) = delete;
  handler_table& operator=(const handler_table&) = delete;

  // Frees every handler, list and route table; no publish may still run.
  ~handler_table() {
    for (auto& chunk_ptr : chunks_) {
      auto* c = chunk_ptr.load(std::memory_order_relaxed);
      if (c == &no_lists) continue;
      for (auto& slot : c->lists) {
        const auto* list = slot.load(std::memory_order_relaxed);
        if (!list) continue;
        for (const auto& entry : list->entries) entry.destroy(entry.target);
        delete list;
      }
      delete c;
    }
    if (const auto* table = routes_.load(std::memory_order_relaxed)) free_routes(table);
    for (auto& garbage : retired_) free_retired(garbage);
  }

  // The list of `index`, or nullptr. Index 0 (a type not numbered yet) has none.
  [[nodiscard]] const handler_list* find(std::size_t index) const noexcept {
    const chunk* c = chunks_[index / chunk_size].load(std::memory_order_acquire);
    return c->lists[index % chunk_size].load(std::memory_order_acquire);
  }

  [[nodiscard]] const route_table* routes() const noexcept {
    return routes_.load(std::memory_order_acquire);
  }

  // Appends `entry` to the list of `index` and returns its new id. On a
  // throw, nothing changed and `entry` is the caller's to free.
  std::uint64_t add(std::size_t index, handler_entry entry) {
    std::lock_guard lock(writers_);
    auto& slot = slot_for(index);
    const auto* old = slot.load(std::memory_order_relaxed);
    auto* fresh = new handler_list{old ? old->entries : std::vector<handler_entry>{}};
    entry.id = last_id_ + 1;
    try {
      fresh->entries.push_back(entry);
    } catch (...) {
      delete fresh;
      throw;
    }
    ++last_id_;
    slot.store(fresh, std::memory_order_release);
    if (old) retire(old, &free_list, {});
    return entry.id;
  }

  // Out of memory leaves the handler subscribed rather than break the bus:
  // unsubscribing is noexcept.
  void remove(std::size_t index, std::uint64_t id) noexcept {
    std::lock_guard lock(writers_);
    auto* c = chunks_[index / chunk_size].load(std::memory_order_relaxed);
    if (c == &no_lists) return;
    auto& slot = c->lists[index % chunk_size];
    const auto* old = slot.load(std::memory_order_relaxed);
    if (!old) return;
    handler_list* fresh = nullptr;
    handler_entry removed{};
    try {
      if (old->entries.size() > 1) fresh = new handler_list{};
      for (const auto& entry : old->entries) {
        if (entry.id == id) {
          removed = entry;
        } else if (fresh) {
          fresh->entries.push_back(entry);
        }
      }
    } catch (...) {
      delete fresh;
      return;
    }
    if (!removed.target) {
      delete fresh;
      return;
    }
    slot.store(fresh, std::memory_order_release);
    retire(old, &free_list, removed);
  }

  // `with(old, id)` returns the table with the new route `id` added.
  template <class With>
  std::uint64_t add_route(With&& with) {
    std::lock_guard lock(writers_);
    const std::uint64_t id = last_id_ + 1;
    const auto* old = routes_.load(std::memory_order_relaxed);
    const route_table* fresh = with(old, id);
    ++last_id_;
    routes_.store(fresh, std::memory_order_release);
    if (old) retire(old, &free_routes, {});
    return id;
  }

  void remove_route(std::uint64_t id) noexcept {
    std::lock_guard lock(writers_);
    const auto* old = routes_.load(std::memory_order_relaxed);
    if (!old) return;
    const route_table* fresh;
    try {
      fresh = old->without(*old, id);
    } catch (...) {
      return;  // out of memory: the route stays, as remove() leaves a handler
    }
    if (fresh == old) return;  // no such route
    routes_.store(fresh, std::memory_order_release);
    retire(old, &free_routes, {});
  }

  [[nodiscard]] bool has_retired() const noexcept {
    return has_retired_.load(std::memory_order_relaxed);
  }

  // Frees what no reader can see any more; skipped if a writer is busy.
  void try_collect() noexcept {
    std::unique_lock lock(writers_, std::try_to_lock);
    if (lock.owns_lock()) collect_locked();
  }

  void collect() noexcept {
    std::lock_guard lock(writers_);
    collect_locked();
  }

 private:
  static constexpr std::size_t chunk_size = 64;
  static constexpr std::size_t max_chunks = max_type_indexes / chunk_size;

  using chunk = handler_chunk<chunk_size>;
  // Where every chunk pointer points until its chunk gets a list, so that a
  // lookup needs no null test. Never written.
  static inline constinit chunk no_lists{};

  // A handler list or a route table that a publish may still read.
  struct retired_list {
    const void* object;
    void (*free)(const void* object) noexcept;
    handler_entry removed;  // target == nullptr: nothing removed
    std::uint64_t tag;
  };

  std::atomic<const handler_list*>& slot_for(std::size_t index) {
    auto& entry = chunks_[index / chunk_size];
    chunk* c = entry.load(std::memory_order_relaxed);
    if (c == &no_lists) {
      c = new chunk;
      entry.store(c, std::memory_order_release);
    }
    return c->lists[index % chunk_size];
  }

  static void free_list(const void* list) noexcept {
    delete static_cast<const handler_list*>(list);
  }

  static void free_routes(const void* table) noexcept {
    const auto* routes = static_cast<const route_table*>(table);
    routes->destroy(routes);
  }

  // Called with the writer lock held, after the object became unreachable.
  void retire(const void* object, void (*free)(const void*) noexcept,
              handler_entry removed) noexcept {
    const std::uint64_t tag = thread_safe_ ? epoch_domain::retire_tag() : 0;
    try {
      retired_.push_back({object, free, removed, tag});
    } catch (...) {
      return;  // out of memory: leak this list rather than free it under a reader
    }
    has_retired_.store(true, std::memory_order_relaxed);
    // Single-threaded, a write outside every handler cannot race a publish;
    // inside one, the lists wait for the outermost publish to end.
    if (thread_safe_ || !current_frame) collect_locked();
  }

  void collect_locked() noexcept {
    const std::uint64_t safe = thread_safe_ ? epoch_domain::safe_epoch() : 0;
    std::size_t kept = 0;
    for (auto& garbage : retired_) {
      if (garbage.tag <= safe) {
        free_retired(garbage);
      } else {
        retired_[kept++] = garbage;
      }
    }
    retired_.resize(kept);
    has_retired_.store(kept != 0, std::memory_order_relaxed);
  }

  static void free_retired(const retired_list& garbage) noexcept {
    if (garbage.removed.target) garbage.removed.destroy(garbage.removed.target);
    garbage.free(garbage.object);
  }

  const bool thread_safe_;
  std::atomic<chunk*> chunks_[max_chunks]{};
  std::atomic<const route_table*> routes_{nullptr};
  std::mutex writers_;
  std::uint64_t last_id_ = 0;
  std::vector<retired_list> retired_;
  std::atomic<bool> has_retired_{false};
};

}  // namespace herald::detail
