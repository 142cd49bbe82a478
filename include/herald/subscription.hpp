// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>   // open flag and unsubscribes in progress, shared with the issuer
#include <cstddef>  // slot numbers
#include <cstdint>  // handler ids
#include <memory>   // std::shared_ptr: a subscription may outlive its issuer
#include <utility>  // std::exchange

namespace herald {

/// Shared by whatever hands out subscriptions (a bus, a transport) and every
/// subscription it made, so that a subscription may outlive its issuer. The
/// issuer calls close() first thing in its destructor: it waits for the
/// unsubscribes running at that moment on other threads, and makes every
/// later one do nothing. (Keeping a token alive is not enough: the issuer's
/// state would be freed under an unsubscribe that had already started.)
class subscription_source {
 public:
  [[nodiscard]] static std::shared_ptr<subscription_source> make() {
    return std::make_shared<subscription_source>();
  }

  /// After it returns, no unsubscribe runs and none will.
  void close() noexcept {
    open_.store(false, std::memory_order_seq_cst);
    for (int busy; (busy = busy_.load(std::memory_order_seq_cst)) != 0;) busy_.wait(busy);
  }

  [[nodiscard]] bool open() const noexcept { return open_.load(std::memory_order_acquire); }

  /// Runs `f` unless close() has begun; close() waits for it.
  template <class F>
  void if_open(F&& f) noexcept {
    // Announce, then look: close() stores, then looks. With both seq_cst,
    // at least one of the two sees the other.
    busy_.fetch_add(1, std::memory_order_seq_cst);
    if (open_.load(std::memory_order_seq_cst)) f();
    if (busy_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
        !open_.load(std::memory_order_seq_cst)) {
      busy_.notify_all();
    }
  }

 private:
  std::atomic<bool> open_{true};
  std::atomic<int> busy_{0};
};

/// Ownership of one handler on a bus or transport. Move-only; destroying or
/// reset()ting it unsubscribes: the handler receives no publish that starts
/// afterwards (a publish already running on another thread may still call
/// it). Outliving the bus is safe, also when reset() on one thread races
/// the bus's destruction on another: reset() then does nothing.
class subscription {
 public:
  subscription() noexcept = default;

  subscription(subscription&& other) noexcept
      : source_(std::move(other.source_)),
        unsubscribe_(std::exchange(other.unsubscribe_, nullptr)),
        target_(other.target_),
        type_(other.type_),
        id_(other.id_) {}

  subscription& operator=(subscription&& other) noexcept {
    if (this != &other) {
      reset();
      source_ = std::move(other.source_);
      unsubscribe_ = std::exchange(other.unsubscribe_, nullptr);
      target_ = other.target_;
      type_ = other.type_;
      id_ = other.id_;
    }
    return *this;
  }

  subscription(const subscription&) = delete;
  subscription& operator=(const subscription&) = delete;

  ~subscription() { reset(); }

  /// Unsubscribes now; afterwards active() is false.
  void reset() noexcept {
    auto unsubscribe = std::exchange(unsubscribe_, nullptr);
    // Both are set together; testing the source too keeps GCC 12 from
    // warning about an atomic through a moved-from (null) pointer.
    if (!unsubscribe || !source_) return;
    source_->if_open([&] { unsubscribe(target_, type_, id_); });
    source_.reset();
  }

  /// Gives up ownership: the handler stays subscribed for the bus's lifetime.
  void release() noexcept {
    unsubscribe_ = nullptr;
    source_.reset();
  }

  /// True while this object still owns a handler on a living bus.
  [[nodiscard]] bool active() const noexcept { return unsubscribe_ && source_->open(); }
  explicit operator bool() const noexcept { return active(); }

  /// Made by an issuer (a bus, a transport); users get subscriptions from
  /// subscribe(). `unsubscribe(target, type, id)` runs at most once, never
  /// after `source->close()` has returned.
  subscription(std::shared_ptr<subscription_source> source,
               void (*unsubscribe)(void*, std::size_t, std::uint64_t), void* target,
               std::size_t type, std::uint64_t id) noexcept
      : source_(std::move(source)),
        unsubscribe_(unsubscribe),
        target_(target),
        type_(type),
        id_(id) {}

 private:
  std::shared_ptr<subscription_source> source_;
  void (*unsubscribe_)(void*, std::size_t, std::uint64_t) = nullptr;
  void* target_ = nullptr;
  std::size_t type_ = 0;
  std::uint64_t id_ = 0;
};

}  // namespace herald
