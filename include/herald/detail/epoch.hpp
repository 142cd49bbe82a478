// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>  // std::min
#include <atomic>     // reader announcements and the global epoch
#include <cstdint>    // epochs
#include <cstdlib>    // std::abort when no fence can be had
#include <mutex>      // registration of the asymmetric fence, once

#if defined(__linux__) && __has_include(<linux/membarrier.h>)
#include <linux/membarrier.h>  // asymmetric fences: readers pay nothing, writers a syscall
#include <sys/syscall.h>
#include <unistd.h>
#define HERALD_HAS_MEMBARRIER 1
#endif
// ThreadSanitizer, which models no fences: g++ says so in a macro, clang 14 only through
// __has_feature.
#if defined(__SANITIZE_THREAD__)
#define HERALD_EPOCH_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HERALD_EPOCH_TSAN 1
#endif
#endif

namespace herald::detail {

// Epoch-based reclamation with asymmetric fences, for read paths that must
// not pay an atomic read-modify-write (the thread-safe bus's publish).
//
// A reader announces the epoch it started in with a plain store into its own
// thread's slot. A writer that replaced a pointer tags the old object with a
// new epoch and frees it once no reader announces an older epoch. The store-
// then-load race between them (Dekker) is closed by a full fence on both
// sides; once Linux membarrier is registered the writer issues that fence on
// every thread on the readers' behalf, so a reader's side is a compiler fence.
class epoch_domain {
 public:
  struct reader_slot {
    std::atomic<std::uint64_t> epoch{0};  // 0: not reading
    std::atomic<bool> in_use{false};
    reader_slot* next = nullptr;
  };

  // Reader side: enter before loading protected pointers, leave after the
  // last use of what they pointed to. Returns the slot to leave, or nullptr
  // when this thread is reading already (a publish from a handler): only the
  // outermost entry leaves. The fast path is a thread-local load, a check
  // that this thread is not reading, and one plain store.
  // Throws std::bad_alloc only on a thread's first entry, making its slot.
  static reader_slot* enter() {
    reader_slot* slot = light_slot;
    if (slot && slot->epoch.load(std::memory_order_relaxed) == 0) [[likely]] {
      slot->epoch.store(epoch_.load(std::memory_order_acquire), std::memory_order_relaxed);
      std::atomic_signal_fence(std::memory_order_seq_cst);  // writers fence for us
      return slot;
    }
    return enter_slow();
  }

  static void leave(reader_slot& slot) noexcept { slot.epoch.store(0, std::memory_order_release); }

  // Writer side: call after making the old object unreachable; returns the
  // tag to keep with it.
  static std::uint64_t retire_tag() noexcept {
    return epoch_.fetch_add(1, std::memory_order_acq_rel) + 1;
  }

  // Objects tagged at or below the returned epoch are no longer read.
  static std::uint64_t safe_epoch() noexcept {
    heavy_fence();
    std::uint64_t oldest = epoch_.load(std::memory_order_acquire);
    for (auto* slot = slots_.load(std::memory_order_acquire); slot; slot = slot->next) {
      std::uint64_t e = slot->epoch.load(std::memory_order_acquire);
      if (e != 0) oldest = std::min(oldest, e);
    }
    return oldest;
  }

 private:
  // The first time a thread reads: its slot, and the asymmetric fence
  // registered, so that from then on it takes the fast path of enter(). Where
  // registration fails (an old kernel, ThreadSanitizer) every entry comes here
  // and pays a full fence instead.
  [[gnu::noinline]] static reader_slot* enter_slow() {
    reader_slot* slot = tls_slot ? tls_slot : &claim_slot();
    if (slot->epoch.load(std::memory_order_relaxed) != 0) return nullptr;  // nested
    slot->epoch.store(epoch_.load(std::memory_order_acquire), std::memory_order_relaxed);
    if (register_asymmetric()) {
      std::atomic_signal_fence(std::memory_order_seq_cst);
      light_slot = slot;
    } else {
      full_fence();
    }
    return slot;
  }

  // Whether writers fence on the readers' behalf; registers once. Readers
  // switch to the light fence only after this succeeded; until they see it
  // they keep using full fences, which is always safe. A writer calls this
  // before it fences, so it sees a registration a reader made.
  static bool register_asymmetric() noexcept {
#if defined(HERALD_HAS_MEMBARRIER) && !defined(HERALD_EPOCH_TSAN)  // TSan cannot see membarrier
    static std::once_flag registration;
    try {
      std::call_once(registration, [] {
        if (::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0) {
          asymmetric_.store(true, std::memory_order_release);
        }
      });
    } catch (...) {  // call_once failing to start a thread-safe wait: stay on full fences
    }
#endif
    return asymmetric_.load(std::memory_order_acquire);
  }

  static void heavy_fence() noexcept {
#if defined(HERALD_HAS_MEMBARRIER)
    if (register_asymmetric()) {
      if (::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) return;
      // A forked child starts unregistered: register and try again; failing
      // that, the global barrier is slow but needs no registration.
      if (::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 &&
          ::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) {
        return;
      }
      if (::syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0) return;
      std::abort();  // no way left to order readers: freeing now could corrupt memory
    }
#endif
    full_fence();
  }

  static void full_fence() noexcept {
#if defined(HERALD_EPOCH_TSAN)
    // ThreadSanitizer models no fences. Read-modify-writes of one shared word
    // are totally ordered, which gives both sides the same guarantee in a
    // form it checks.
    fence_word_.fetch_add(0, std::memory_order_seq_cst);
#else
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
  }

  // Slots live as long as the process; a thread that exits gives its slot
  // back for the next thread, so the list is as long as the peak thread count.
  static reader_slot& claim_slot() {
    for (auto* slot = slots_.load(std::memory_order_acquire); slot; slot = slot->next) {
      bool expected = false;
      if (!slot->in_use.load(std::memory_order_relaxed) &&
          slot->in_use.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
        return adopt(slot);
      }
    }
    auto* slot = new reader_slot;
    slot->in_use.store(true, std::memory_order_relaxed);
    slot->next = slots_.load(std::memory_order_relaxed);
    while (!slots_.compare_exchange_weak(slot->next, slot, std::memory_order_release,
                                         std::memory_order_relaxed)) {
    }
    return adopt(slot);
  }

  static reader_slot& adopt(reader_slot* slot) {
    struct releaser {
      reader_slot* slot = nullptr;
      ~releaser() {
        if (!slot) return;
        slot->epoch.store(0, std::memory_order_release);
        slot->in_use.store(false, std::memory_order_release);
        tls_slot = nullptr;
        light_slot = nullptr;
      }
    };
    thread_local releaser release_at_exit;
    release_at_exit.slot = slot;
    tls_slot = slot;
    return *slot;
  }

  // All constant-initialized: the read path touches no guard variable.
  static inline constinit thread_local reader_slot* tls_slot = nullptr;
  // tls_slot once its entries may take the light fence; null until then.
  static inline constinit thread_local reader_slot* light_slot = nullptr;
  static inline constinit std::atomic<std::uint64_t> epoch_{1};
  static inline constinit std::atomic<reader_slot*> slots_{nullptr};
  static inline constinit std::atomic<bool> asymmetric_{false};
  static inline constinit std::atomic<std::uint64_t> fence_word_{0};
};

}  // namespace herald::detail

#undef HERALD_HAS_MEMBARRIER
#undef HERALD_EPOCH_TSAN
