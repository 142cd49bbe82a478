// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>   // lock-free cell sequencing
#include <cstddef>  // sizes
#include <memory>   // the cell array
#include <utility>  // std::move

namespace herald::detail {

// A bounded multi-producer multi-consumer FIFO (D. Vyukov's array queue):
// each cell carries a sequence number that says whose turn it is, so a push
// or pop is one CAS on a shared index and no lock. Capacity is rounded up to
// a power of two.
template <class T>
class bounded_ring {
 public:
  explicit bounded_ring(std::size_t capacity)
      : mask_(round_up(capacity) - 1), cells_(std::make_unique<cell[]>(mask_ + 1)) {
    for (std::size_t i = 0; i <= mask_; ++i) cells_[i].sequence.store(i, std::memory_order_relaxed);
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }

  // Returns false, leaving `value` untouched, when the ring is full.
  bool try_push(T& value) noexcept {
    std::size_t pos = tail_.load(std::memory_order_relaxed);
    for (;;) {
      cell& c = cells_[pos & mask_];
      std::size_t seq = c.sequence.load(std::memory_order_acquire);
      auto diff = static_cast<std::ptrdiff_t>(seq) - static_cast<std::ptrdiff_t>(pos);
      if (diff == 0) {
        if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          c.value = std::move(value);
          c.sequence.store(pos + 1, std::memory_order_release);
          return true;
        }
      } else if (diff < 0) {
        return false;
      } else {
        pos = tail_.load(std::memory_order_relaxed);
      }
    }
  }

  // True when the next pop would find a value (a hint when others pop too).
  [[nodiscard]] bool ready() const noexcept {
    std::size_t pos = head_.load(std::memory_order_seq_cst);
    return cells_[pos & mask_].sequence.load(std::memory_order_seq_cst) == pos + 1;
  }

  // Returns false when the ring is empty.
  bool try_pop(T& out) noexcept {
    std::size_t pos = head_.load(std::memory_order_relaxed);
    for (;;) {
      cell& c = cells_[pos & mask_];
      std::size_t seq = c.sequence.load(std::memory_order_acquire);
      auto diff = static_cast<std::ptrdiff_t>(seq) - static_cast<std::ptrdiff_t>(pos + 1);
      if (diff == 0) {
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          out = std::move(c.value);
          c.sequence.store(pos + mask_ + 1, std::memory_order_release);
          return true;
        }
      } else if (diff < 0) {
        return false;
      } else {
        pos = head_.load(std::memory_order_relaxed);
      }
    }
  }

 private:
  static std::size_t round_up(std::size_t n) noexcept {
    std::size_t p = 2;
    while (p < n) p <<= 1;
    return p;
  }

  struct cell {
    std::atomic<std::size_t> sequence{0};
    T value{};
  };

  static constexpr std::size_t line = 64;  // keep producers' and consumers' indexes apart
  const std::size_t mask_;
  std::unique_ptr<cell[]> cells_;
  alignas(line) std::atomic<std::size_t> tail_{0};
  alignas(line) std::atomic<std::size_t> head_{0};
};

}  // namespace herald::detail
