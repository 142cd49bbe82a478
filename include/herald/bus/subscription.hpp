// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>  // slot numbers
#include <cstdint>  // handler ids
#include <memory>   // std::weak_ptr: a subscription may outlive its bus
#include <utility>  // std::exchange

namespace herald {

/// Ownership of one handler on a bus. Move-only; destroying or reset()ting
/// it unsubscribes: the handler receives no publish that starts afterwards
/// (a publish already running on another thread may still call it).
/// Outliving the bus is safe: reset() then does nothing.
class subscription {
 public:
  subscription() noexcept = default;

  subscription(subscription&& other) noexcept
      : bus_(std::move(other.bus_)),
        unsubscribe_(std::exchange(other.unsubscribe_, nullptr)),
        target_(other.target_),
        type_(other.type_),
        id_(other.id_) {}

  subscription& operator=(subscription&& other) noexcept {
    if (this != &other) {
      reset();
      bus_ = std::move(other.bus_);
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
    if (!unsubscribe) return;
    if (auto alive = bus_.lock()) unsubscribe(target_, type_, id_);
    bus_.reset();
  }

  /// Gives up ownership: the handler stays subscribed for the bus's lifetime.
  void release() noexcept {
    unsubscribe_ = nullptr;
    bus_.reset();
  }

  /// True while this object still owns a handler on a living bus.
  [[nodiscard]] bool active() const noexcept { return unsubscribe_ && !bus_.expired(); }
  explicit operator bool() const noexcept { return active(); }

  /// Made by a bus; users get subscriptions from subscribe().
  subscription(std::weak_ptr<void> bus, void (*unsubscribe)(void*, std::size_t, std::uint64_t),
               void* target, std::size_t type, std::uint64_t id) noexcept
      : bus_(std::move(bus)), unsubscribe_(unsubscribe), target_(target), type_(type), id_(id) {}

 private:
  std::weak_ptr<void> bus_;
  void (*unsubscribe_)(void*, std::size_t, std::uint64_t) = nullptr;
  void* target_ = nullptr;
  std::size_t type_ = 0;
  std::uint64_t id_ = 0;
};

}  // namespace herald
