// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>      // nesting depth
#include <string>       // the source to fill in
#include <string_view>  // the type to fill in

#include "herald/attributes.hpp"
#include "herald/clock.hpp"
#include "herald/error.hpp"
#include "herald/id.hpp"

namespace herald::detail {

// One per message being handled on this thread, linked to the frame of the
// message whose handler published it. A message published as a plain T gets
// its attributes (id, time, correlation) only when something asks for them:
// a handler taking message<T>, a nested publish, or an error report.
struct dispatch_frame;

// The innermost frame on this thread; trivially initialized so reading it
// costs a plain TLS load.
inline constinit thread_local dispatch_frame* current_frame = nullptr;

struct dispatch_frame {
  // Becomes the current frame for its lifetime.
  explicit dispatch_frame(const attributes& (*attributes_of_in)(dispatch_frame&)) noexcept
      : attributes_of(attributes_of_in), parent(current_frame) {
    current_frame = this;
  }
  ~dispatch_frame() { current_frame = parent; }
  dispatch_frame(const dispatch_frame&) = delete;
  dispatch_frame& operator=(const dispatch_frame&) = delete;

  const attributes& (*attributes_of)(dispatch_frame&);
  dispatch_frame* parent;
};

/// How deeply handlers may publish inside handlers on one thread. A handler
/// that publishes what (indirectly) triggers itself would otherwise recurse
/// until the stack overflows; past this depth the publish throws instead,
/// and the failure reaches the error handler of the handler that published.
inline constexpr std::uint32_t max_publish_depth = 128;

[[noreturn]] inline void throw_publish_too_deep(std::string_view type) {
  throw error(errc::limit_exceeded,
              "publishing " + std::string(type) + " from a handler nested " +
                  std::to_string(max_publish_depth) +
                  " deep on this thread: handlers that publish what triggers them again recurse "
                  "without end; break the cycle, or hand the work to publish_async or a queue");
}

// How deep a publish whose frame's parent is `parent` runs: a walk up the
// frames, which are few unless a cycle is running away. (A depth kept in
// every frame would cost every publish; this costs only nested ones.)
[[gnu::noinline]] inline void check_nested_publish(const dispatch_frame* parent,
                                                   std::string_view type) {
  std::uint32_t depth = 1;
  for (const dispatch_frame* f = parent; f != nullptr; f = f->parent) {
    if (++depth > max_publish_depth) throw_publish_too_deep(type);
  }
}

// Called before a publish delivers on this thread: one TLS load outside handlers.
inline void check_publish_depth(std::string_view type) {
  if (current_frame) [[unlikely]]
    check_nested_publish(current_frame, type);
}

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

// Fills the attributes a publisher left empty: a new id, the publisher's
// source, the event's type, the time from `clock` (read only if missing), and the context of
// `cause`, the frame of the message whose handler is publishing.
inline void fill_blank_attributes(attributes& m, std::string_view type, const std::string& source,
                                  clock_ref clock, dispatch_frame* cause) {
  if (m.id.empty()) m.id = new_id();
  if (m.source.empty()) m.source = source;
  if (m.type.empty()) m.type = std::string(type);
  if (!m.time) m.time = clock.now();
  inherit_context(m, cause);
}

}  // namespace herald::detail
