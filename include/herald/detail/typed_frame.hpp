// SPDX-License-Identifier: MIT
#pragma once

#include <new>          // std::launder for the lazily made message
#include <type_traits>  // is_message

#include "herald/detail/dispatch_frame.hpp"
#include "herald/event.hpp"
#include "herald/message.hpp"

namespace herald::detail {

template <class T>
struct is_message : std::false_type {};
template <class T>
struct is_message<message<T>> : std::true_type {};

// The frame of one delivery of T, for the bus, a topic or a queue. For a
// plain `publish(const T&)` the message (and with it a UUID and a clock read)
// is made only if someone asks, from the `source` and `clock` of `Defaults`
// (the caller's options). Every store here is on the publish path, so the
// frame holds only what it must.
template <class T, class Defaults>
struct typed_frame : dispatch_frame {
  typed_frame(const T* payload_in, const message<T>* message_in, const Defaults& defaults_in)
      : dispatch_frame(&attributes_of_frame),
        payload(payload_in),
        msg(message_in),
        defaults(&defaults_in) {}

  ~typed_frame() {
    if (msg == made()) made()->~message<T>();
  }
  typed_frame(const typed_frame&) = delete;
  typed_frame& operator=(const typed_frame&) = delete;

  const message<T>& get() {
    if (!msg) {
      auto* fresh = ::new (static_cast<void*>(storage)) message<T>(*payload);
      msg = fresh;  // from here on the destructor owns it
      // The cause is the parent: this frame is itself the current one now.
      fill_blank_attributes(*fresh, event_type_v<T>, defaults->source, defaults->clock, parent);
    }
    return *msg;
  }

  static const attributes& attributes_of_frame(dispatch_frame& f) {
    return static_cast<typed_frame&>(f).get();
  }

  message<T>* made() noexcept { return std::launder(reinterpret_cast<message<T>*>(storage)); }

  const T* payload;
  const message<T>* msg;
  const Defaults* defaults;
  alignas(message<T>) unsigned char storage[sizeof(message<T>)];
};

}  // namespace herald::detail
