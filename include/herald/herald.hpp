// SPDX-License-Identifier: MIT
#pragma once

// Convenience umbrella for the dependency-free core (fmt and nlohmann/json
// only). No herald header includes it; include what you use to build faster.

#include "herald/attributes.hpp"
#include "herald/bus/bus.hpp"
#include "herald/bus/executor.hpp"
#include "herald/bus/options.hpp"
#include "herald/bus/subscription.hpp"
#include "herald/bus/thread_pool.hpp"
#include "herald/clock.hpp"
#include "herald/codec.hpp"
#include "herald/envelope.hpp"
#include "herald/error.hpp"
#include "herald/event.hpp"
#include "herald/id.hpp"
#include "herald/message.hpp"
#include "herald/routing/event_pattern.hpp"
#include "herald/routing/route.hpp"
#include "herald/routing/rule_set.hpp"
#include "herald/version.hpp"
