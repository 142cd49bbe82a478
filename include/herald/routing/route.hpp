// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>    // find and erase routes
#include <atomic>       // data encoders are registered from any thread
#include <cstddef>      // type indexes
#include <cstdint>      // route ids
#include <exception>    // handler failures go to the bus's error handler
#include <memory>       // handlers are shared by the copies of a table
#include <optional>     // the envelope is made only if a handler takes one
#include <string>       // error text
#include <string_view>  // pattern text
#include <type_traits>  // handler signature checks
#include <utility>      // std::move
#include <vector>       // the routes of a table

#include <nlohmann/json.hpp>  // routes match the event's JSON form

#include "herald/bus/bus.hpp"
#include "herald/codec.hpp"
#include "herald/detail/type_index.hpp"
#include "herald/envelope.hpp"
#include "herald/error.hpp"
#include "herald/event.hpp"
#include "herald/routing/event_pattern.hpp"
#include "herald/routing/rule_set.hpp"

namespace herald {

namespace detail {

using data_encoder = nlohmann::json (*)(const void* payload);

// How each event type's payload becomes the "data" a route matches, by type
// index. Types are registered, not discovered: the bus publishes T without
// seeing JSON, so only code that does see it can say how T converts.
inline constinit std::atomic<data_encoder> data_encoders[max_type_indexes]{};
inline constinit std::atomic<bool> data_warned[max_type_indexes]{};

template <class T>
nlohmann::json encode_data(const void* payload) {
  return nlohmann::json(*static_cast<const T*>(payload));
}

}  // namespace detail

/// Lets the routes of every bus see the payload of T under "data". Without
/// it a route sees only the attributes of T's events, and a route whose
/// pattern needs "data" reports that once through the bus's error handler.
template <class T>
void routable() {
  static_assert(serializable_event<T>,
                "herald: a routable event type needs a JSON form: give it to_json and from_json "
                "(or NLOHMANN_DEFINE_TYPE_INTRUSIVE)");
  const std::size_t index = detail::checked_type_index<T>();
  detail::data_encoders[index].store(&detail::encode_data<T>, std::memory_order_release);
}

namespace detail {

// One event as the routes see it: its JSON form always, its envelope when a
// handler asks for one (made once, shared by the handlers that do).
struct routed_event {
  const nlohmann::json& json;
  const attributes& attrs;
  std::optional<envelope> made;

  const envelope& as_envelope() {
    if (!made) {
      made.emplace();
      static_cast<attributes&>(*made) = attrs;
      if (auto data = json.find("data"); data != json.end()) made->data = *data;
    }
    return *made;
  }
};

struct route_target {
  virtual ~route_target() = default;
  virtual void call(routed_event& event) const = 0;
  std::uint64_t id = 0;
  bool needs_data = false;
  rule_set<std::shared_ptr<const route_target>>::rule_id rule = 0;
};

template <class F>
constexpr bool takes_envelope = std::is_invocable_v<F&, const envelope&>;
template <class F>
constexpr bool takes_json = std::is_invocable_v<F&, const nlohmann::json&>;

template <class Handler>
struct route_target_for final : route_target {
  explicit route_target_for(Handler h) : handler(std::move(h)) {}
  void call(routed_event& event) const override {
    if constexpr (takes_envelope<Handler>) {
      handler(event.as_envelope());
    } else {
      handler(event.json);
    }
  }
  mutable Handler handler;  // called like any bus handler; the user's state is the user's
};

template <class F>
consteval bool check_route_handler() {
  if constexpr (!takes_envelope<F> && !takes_json<F>) {
    static_assert(always_false<F>,
                  "herald: a route handler must be callable with `const herald::envelope&` or "
                  "`const nlohmann::json&` (the event's CloudEvent JSON form)");
    return false;
  } else {
    return true;
  }
}

// The routes of one bus at one moment; never changed once published to the
// bus, so publishes read it without locks. Adding or removing a route makes
// a new table.
struct route_table_of final : route_table {
  route_table_of() : route_table{&dispatch_routes, &without_route, &destroy_table} {}

  rule_set<std::shared_ptr<const route_target>> rules;
  std::vector<std::shared_ptr<const route_target>> targets;  // in the order added
  bool needs_data = false;  // some pattern constrains "data"

  void add(event_pattern pattern, std::shared_ptr<route_target> target) {
    target->needs_data = pattern.constrains("data");
    needs_data = needs_data || target->needs_data;
    target->rule = rules.add(std::move(pattern), target);
    targets.push_back(std::move(target));
  }

  static void dispatch_routes(const route_table& base, route_call& call) {
    const auto& self = static_cast<const route_table_of&>(base);
    const attributes& attrs = call.frame.attributes_of(call.frame);
    std::optional<nlohmann::json> event;
    try {
      event.emplace(cloudevent_attributes_json(attrs, attrs.type));
      if (auto encode = data_encoders[call.type].load(std::memory_order_acquire)) {
        (*event)["data"] = encode(call.payload);
      } else if (self.needs_data && !data_warned[call.type].exchange(true)) {
        throw error(errc::invalid_argument,
                    "a route's pattern needs \"data\", but events of type '" + attrs.type +
                        "' reach routes without it: call herald::routable<T>() for that type "
                        "once at startup");
      }
    } catch (...) {
      call.report(call.bus, attrs.type, attrs, std::current_exception());
      if (!event) return;
    }
    routed_event routed{*event, attrs, std::nullopt};
    self.rules.for_each_match(*event, [&](const std::shared_ptr<const route_target>& target) {
      try {
        target->call(routed);
      } catch (...) {
        call.report(call.bus, attrs.type, attrs, std::current_exception());
      }
    });
  }

  static const route_table* without_route(const route_table& base, std::uint64_t id) {
    const auto& self = static_cast<const route_table_of&>(base);
    auto found = std::find_if(self.targets.begin(), self.targets.end(),
                              [&](const auto& t) { return t->id == id; });
    if (found == self.targets.end()) return &base;
    if (self.targets.size() == 1) return nullptr;
    auto fresh = std::make_unique<route_table_of>(self);
    fresh->rules.remove((*found)->rule);
    std::erase_if(fresh->targets, [&](const auto& t) { return t->id == id; });
    fresh->needs_data = std::any_of(fresh->targets.begin(), fresh->targets.end(),
                                    [](const auto& t) { return t->needs_data; });
    return fresh.release();
  }

  static void destroy_table(const route_table* table) noexcept {
    delete static_cast<const route_table_of*>(table);
  }
};

template <class Pattern>
event_pattern to_event_pattern(Pattern&& pattern) {
  if constexpr (std::is_same_v<std::decay_t<Pattern>, event_pattern>) {
    return std::forward<Pattern>(pattern);
  } else {
    return event_pattern::parse(std::forward<Pattern>(pattern));
  }
}

// Named in bus.hpp: what bus.route() calls to make its next table.
template <class Pattern>
struct route_builder {
  template <class P, class Handler>
  static const route_table* with(const route_table* old, std::uint64_t id, P&& pattern,
                                 Handler&& handler) {
    using target_type = route_target_for<std::decay_t<Handler>>;
    if constexpr (check_route_handler<std::decay_t<Handler>>()) {
      auto target = std::make_shared<target_type>(std::forward<Handler>(handler));
      target->id = id;
      auto fresh = old ? std::make_unique<route_table_of>(static_cast<const route_table_of&>(*old))
                       : std::make_unique<route_table_of>();
      fresh->add(to_event_pattern(std::forward<P>(pattern)), std::move(target));
      return fresh.release();
    } else {
      return old;
    }
  }
};

}  // namespace detail
}  // namespace herald
