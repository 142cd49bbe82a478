// SPDX-License-Identifier: MIT
#pragma once

#include "herald/attributes.hpp"

namespace herald::detail {

// One per message being handled on this thread, linked to the frame of the
// message whose handler published it. A message published as a plain T gets
// its attributes (id, time, correlation) only when something asks for them:
// a handler taking message<T>, a nested publish, or an error report.
struct dispatch_frame {
  const attributes& (*attributes_of)(dispatch_frame&);
  dispatch_frame* parent;
};

// The innermost frame on this thread; trivially initialized so reading it
// costs a plain TLS load.
inline constinit thread_local dispatch_frame* current_frame = nullptr;

// Fills what a new message inherits from the one being handled: the same
// correlation id, and the handled message's id as its cause. A root message
// is its own correlation.
inline void inherit_context(attributes& child, dispatch_frame* parent) {
  if (parent) {
    const attributes& cause = parent->attributes_of(*parent);
    if (child.correlationid.empty()) child.correlationid = cause.correlationid;
    if (child.causationid.empty()) child.causationid = cause.id;
    if (child.traceparent.empty()) child.traceparent = cause.traceparent;
  }
  if (child.correlationid.empty()) child.correlationid = child.id;
}

// Sets the current frame for a scope and restores the previous one.
class frame_scope {
 public:
  explicit frame_scope(dispatch_frame& frame) noexcept : saved_(current_frame) {
    frame.parent = saved_;
    current_frame = &frame;
  }
  ~frame_scope() { current_frame = saved_; }
  frame_scope(const frame_scope&) = delete;
  frame_scope& operator=(const frame_scope&) = delete;

 private:
  dispatch_frame* saved_;
};

}  // namespace herald::detail
