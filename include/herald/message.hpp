// SPDX-License-Identifier: MIT
#pragma once

#include <utility>  // std::move

#include "herald/attributes.hpp"
#include "herald/event.hpp"

namespace herald {

/// A typed message: the CloudEvents attributes plus the event itself in
/// `data`. A handler that takes `const message<T>&` sees the id, time,
/// correlation and causation of what it handles.
template <class T>
struct message : attributes {
  T data{};

  message() { type = std::string(event_type_v<T>); }
  explicit message(T payload) : data(std::move(payload)) { type = std::string(event_type_v<T>); }
  message(attributes attrs, T payload) : attributes(std::move(attrs)), data(std::move(payload)) {
    if (type.empty()) type = std::string(event_type_v<T>);
  }

  friend bool operator==(const message&, const message&) = default;
};

}  // namespace herald
