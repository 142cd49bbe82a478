// SPDX-License-Identifier: MIT
#pragma once

#include <nlohmann/json.hpp>  // the to_json / from_json hooks
#include <utility>            // std::as_const

#include "herald/event.hpp"

namespace herald {

/// An event whose payload converts to and from JSON through nlohmann's
/// to_json / from_json hooks: what topics, queues and the outbox carry.
template <class T>
concept serializable_event = event<T> && requires(nlohmann::json& j, const T& value, T& out) {
  nlohmann::to_json(j, value);
  nlohmann::from_json(std::as_const(j), out);
};

}  // namespace herald
