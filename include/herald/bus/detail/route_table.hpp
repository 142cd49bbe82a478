// SPDX-License-Identifier: MIT
#pragma once

// What the bus offers routing, without knowing it: the table it calls on each
// publish, the builder `bus.route` instantiates, and the hook through which a
// filter that is not a predicate (an event pattern) names its predicate.
// herald/routing/ defines them; the bus includes nothing of routing.

#include <cstddef>                // type indexes
#include <cstdint>                // route ids
#include <exception>              // a failing route's error
#include <nlohmann/json_fwd.hpp>  // only declared: the bus compiles no JSON of its own
#include <string_view>            // event type names

#include "herald/attributes.hpp"
#include "herald/detail/dispatch_frame.hpp"

namespace herald::detail {

// How a payload becomes the "data" a route matches.
using data_encoder = nlohmann::json (*)(const void* payload);

// Json is a parameter only so that this needs nlohmann::json complete where
// it is instantiated, not here.
template <class T, class Json = nlohmann::json>
Json encode_payload(const void* payload) {
  return Json(*static_cast<const T*>(payload));
}

// Found where T is published, at compile time: T's to_json, by
// argument-dependent lookup (what NLOHMANN_DEFINE_TYPE_* and a hand-written
// to_json beside T give). None: routes see T's attributes only.
template <class T>
constexpr data_encoder data_encoder_of() noexcept {
  if constexpr (requires(nlohmann::json & j, const T& value) { to_json(j, value); }) {
    return &encode_payload<T>;
  } else {
    return nullptr;
  }
}

// What a route table needs from one publish: the bus's routes see every
// event type, so the type travels as an index and the payload untyped.
struct route_call {
  dispatch_frame& frame;
  std::size_t type;  // detail::type_index of the payload's type
  const void* payload;
  data_encoder encode;  // nullptr: the payload's type has no JSON form
  void* bus;
  void (*report)(void* bus, std::string_view type, const attributes& m, std::exception_ptr e);
};

// The bus's routes, copied on write like handler lists.
struct route_table {
  void (*dispatch)(const route_table& self, route_call& call);
  // A copy without route `id`: nullptr when none would be left.
  const route_table* (*without)(const route_table& self, std::uint64_t id);
  void (*destroy)(const route_table* self) noexcept;
};

// `static const route_table* with(const route_table* old, std::uint64_t id,
// Pattern, Handler)`: defined in herald/routing/route.hpp.
template <class Pattern>
struct route_builder;

// The predicate a filter of type Filter stands for, when subscribing to T.
// herald/routing/pattern_filter.hpp maps event patterns to their matchers.
template <class T, class Filter>
struct filter_adapter {
  using type = Filter;
};

}  // namespace herald::detail
