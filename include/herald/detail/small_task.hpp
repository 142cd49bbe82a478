// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>      // buffer size
#include <new>          // placement new
#include <type_traits>  // decay, nothrow checks
#include <utility>      // std::move, std::exchange

namespace herald::detail {

// A move-only `void()` callable that keeps small callables inline, so that
// queueing a small event costs no allocation (std::function copies and
// allocates; std::move_only_function is C++23).
class small_task {
 public:
  static constexpr std::size_t inline_size = 48;

  small_task() noexcept = default;

  template <class F, class D = std::decay_t<F>>
  requires(!std::is_same_v<D, small_task>) &&
      std::is_invocable_v<D&> small_task(
          F&& f) {  // NOLINT(google-explicit-constructor): a task is its callable
    if constexpr (fits_inline<D>) {
      ::new (static_cast<void*>(buffer_)) D(std::forward<F>(f));
      ops_ = &inline_ops<D>;
    } else {
      *reinterpret_cast<D**>(buffer_) = new D(std::forward<F>(f));
      ops_ = &heap_ops<D>;
    }
  }

  small_task(small_task&& other) noexcept : ops_(std::exchange(other.ops_, nullptr)) {
    if (ops_) ops_->move(other.buffer_, buffer_);
  }

  small_task& operator=(small_task&& other) noexcept {
    if (this != &other) {
      reset();
      ops_ = std::exchange(other.ops_, nullptr);
      if (ops_) ops_->move(other.buffer_, buffer_);
    }
    return *this;
  }

  ~small_task() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }

  void operator()() { ops_->invoke(buffer_); }

  void reset() noexcept {
    if (ops_) std::exchange(ops_, nullptr)->destroy(buffer_);
  }

 private:
  struct operations {
    void (*invoke)(void*);
    void (*move)(void* from, void* to) noexcept;  // leaves `from` destroyed
    void (*destroy)(void*) noexcept;
  };

  template <class D>
  static constexpr bool fits_inline =
      sizeof(D) <= inline_size &&
      alignof(D) <= alignof(std::max_align_t) && std::is_nothrow_move_constructible_v<D>;

  template <class D>
  static constexpr operations inline_ops{[](void* p) { (*static_cast<D*>(p))(); },
                                         [](void* from, void* to) noexcept {
                                           ::new (to) D(std::move(*static_cast<D*>(from)));
                                           static_cast<D*>(from)->~D();
                                         },
                                         [](void* p) noexcept { static_cast<D*>(p)->~D(); }};

  template <class D>
  static constexpr operations heap_ops{
      [](void* p) { (**static_cast<D**>(p))(); },
      [](void* from, void* to) noexcept { *static_cast<D**>(to) = *static_cast<D**>(from); },
      [](void* p) noexcept { delete *static_cast<D**>(p); }};

  alignas(std::max_align_t) unsigned char buffer_[inline_size];
  const operations* ops_ = nullptr;
};

}  // namespace herald::detail
