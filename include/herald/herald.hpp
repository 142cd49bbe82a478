// SPDX-License-Identifier: MIT
#pragma once

// Every public header of the core (fmt and nlohmann/json only): handy, but
// slower to build than the headers you use. Left out: the backends, each in
// its own folder and target (herald/sqlite/ for herald::sqlite), and detail/.
// No herald header includes this one.

#include "herald/attributes.hpp"
#include "herald/bus/bus.hpp"
#include "herald/bus/executor.hpp"
#include "herald/bus/options.hpp"
#include "herald/bus/policy.hpp"
#include "herald/bus/thread_pool.hpp"
#include "herald/clock.hpp"
#include "herald/cloudevent_json.hpp"
#include "herald/codec.hpp"
#include "herald/envelope.hpp"
#include "herald/error.hpp"
#include "herald/event.hpp"
#include "herald/fwd.hpp"
#include "herald/id.hpp"
#include "herald/message.hpp"
#include "herald/queue/queue.hpp"
#include "herald/queue/retry_policy.hpp"
#include "herald/queue/worker.hpp"
#include "herald/routing/event_pattern.hpp"
#include "herald/routing/route.hpp"
#include "herald/routing/rule_set.hpp"
#include "herald/routing/typed_pattern.hpp"
#include "herald/serializable_event.hpp"
#include "herald/store/memory_store.hpp"
#include "herald/store/queue_store.hpp"
#include "herald/subscription.hpp"
#include "herald/testing/manual_clock.hpp"
#include "herald/topic/topic.hpp"
#include "herald/transport/concepts.hpp"
#include "herald/transport/inproc.hpp"
#include "herald/transport/subject.hpp"
#include "herald/version.hpp"
