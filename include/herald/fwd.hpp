// SPDX-License-Identifier: MIT
#pragma once

// Declarations of herald's public types, for headers that only name them.
// Include the type's own header to use it.

namespace herald {

// model
struct attributes;
class extension_map;
template <class E>
struct event_traits;
template <class T>
struct message;
struct envelope;
class uuid;
class error;
class decode_error;
struct decode_limits;

// bus
struct single_thread_policy;
struct thread_safe_policy;
template <class Policy>
class basic_bus;
using bus = basic_bus<thread_safe_policy>;
using local_bus = basic_bus<single_thread_policy>;
struct bus_options;
class executor;
class thread_pool;
class subscription;

// routing
class event_pattern;
template <class T>
class typed_pattern;
template <class Target>
class rule_set;

// topics and transports
template <class T, class Transport>
class topic;
struct topic_options;
class inproc_transport;

// queues
template <class T, class Store>
class queue;
template <class T, class Store>
class worker;
struct queue_options;
struct worker_options;
struct retry_policy;
class memory_store;

}  // namespace herald
