// SPDX-License-Identifier: MIT
#pragma once

#include <type_traits>  // std::is_same_v

#include "herald/bus/options.hpp"
#include "herald/detail/handler_traits.hpp"
#include "herald/detail/typed_frame.hpp"

namespace herald::detail {

// A publish on the bus: messages made lazily take the bus's source and clock.
template <class T>
using bus_frame = typed_frame<T, bus_options>;

struct no_filter {};

// One subscriber, type-erased into a handler_entry's two function pointers.
template <class T, class Handler, class Filter>
struct handler_box {
  Handler handler;
  [[no_unique_address]] Filter filter;

  static void invoke(void* self, dispatch_frame& f) {
    auto& box = *static_cast<handler_box*>(self);
    auto& frame = static_cast<bus_frame<T>&>(f);
    if constexpr (!std::is_same_v<Filter, no_filter>) {
      if (!static_cast<bool>(call_with<T>(box.filter, frame))) return;
    }
    call_with<T>(box.handler, frame);
  }

  static void destroy(void* self) noexcept { delete static_cast<handler_box*>(self); }
};

}  // namespace herald::detail
