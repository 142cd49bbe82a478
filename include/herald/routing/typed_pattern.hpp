// SPDX-License-Identifier: MIT
#pragma once

// Event patterns over typed messages: bus.subscribe<T>(pattern, handler) and
// any filter slot. Apart from event_pattern.hpp, which needs no codec.

#include <utility>  // std::move

#include "herald/bus/detail/route_table.hpp"  // detail::filter_adapter
#include "herald/cloudevent_json.hpp"         // a typed message's CloudEvent JSON
#include "herald/event.hpp"
#include "herald/message.hpp"
#include "herald/routing/event_pattern.hpp"

namespace herald {

/// An event pattern bound to an event type: a predicate over message<T> or T
/// that matches the pattern against the message's CloudEvent JSON form. It is
/// what bus.subscribe<T>(pattern, handler) filters with, and any filter slot
/// takes it. A plain T is seen with only its type attribute set.
template <class T>
class typed_pattern {
 public:
  explicit typed_pattern(event_pattern pattern) : pattern_(std::move(pattern)) {}

  [[nodiscard]] bool operator()(const message<T>& m) const {
    static_assert(serializable_event<T>,
                  "herald: matching an event pattern needs the event's JSON form: give it "
                  "to_json and from_json (or NLOHMANN_DEFINE_TYPE_INTRUSIVE)");
    return pattern_.matches(to_cloudevent_json(m));
  }

  [[nodiscard]] bool operator()(const T& event) const { return (*this)(message<T>(event)); }

  [[nodiscard]] const event_pattern& pattern() const noexcept { return pattern_; }

 private:
  event_pattern pattern_;
};

namespace detail {

// What bus.subscribe<T>(pattern, handler) filters with. Takes only the
// message, so that the bus gives it the full attributes.
template <class T>
struct pattern_filter {
  explicit pattern_filter(event_pattern p) : typed(std::move(p)) {}
  explicit pattern_filter(typed_pattern<T> p) : typed(std::move(p)) {}
  bool operator()(const message<T>& m) const { return typed(m); }
  typed_pattern<T> typed;
};

template <class T>
struct filter_adapter<T, event_pattern> {
  using type = pattern_filter<T>;
};
template <class T>
struct filter_adapter<T, typed_pattern<T>> {
  using type = pattern_filter<T>;
};

}  // namespace detail
}  // namespace herald
