// SPDX-License-Identifier: MIT
#pragma once

#include <concepts>  // the part concept
#include <memory>    // an abandonment, type-erased
#include <string>    // names, reasons, ids
#include <vector>    // what did not stop

#include "herald/clock.hpp"

namespace herald {

class executor;
class failure_sink;
class metrics_registry;

/// What a part is doing now.
enum class part_state {
  stopped,  ///< not started, or stopped (by stop(), or by itself: see reason)
  running,  ///< working normally
  failing,  ///< running, but its last attempt at work failed (see last_error)
};

/// A part's health, as a host reports it.
struct part_health {
  std::string name;
  part_state state = part_state::stopped;
  std::string reason;      ///< why it stopped by itself; empty after stop()
  std::string last_error;  ///< the last failure while running; empty if none
};

/// What a stop(deadline) left behind.
struct stop_report {
  std::string name;
  bool in_time = true;                 ///< everything ended before the deadline
  std::vector<std::string> abandoned;  ///< ids of messages whose handlers were still running
};

/// What a host gives the parts it runs, unless a part was given its own.
struct part_context {
  executor* runs_on = nullptr;  ///< where handlers run
  failure_sink* failures = nullptr;
  metrics_registry* metrics = nullptr;
};

/// Something that runs over time and plugs into a herald::host: a worker,
/// and later relays, projections, saga engines, schedulers, or your own.
/// start() returns once it runs; stop(deadline) returns by the deadline plus
/// a small documented grace, and reports what did not end in time.
template <class P>
concept part = requires(P& p, const P& cp, time_point now, duration deadline,
                        const part_context& context) {
  p.start();
  { p.stop(deadline) } -> std::same_as<stop_report>;
  { p.run_once(now) } -> std::convertible_to<std::size_t>;
  { cp.health() } -> std::same_as<part_health>;
  p.use(context);
};

namespace detail {

// At a part's stop deadline: where the store can (PostgreSQL), its calls
// that wait for the server fail at once, and no new one starts, while the
// result lives; the threads the stop joins are in such calls. Elsewhere
// null: memory and SQLite calls do not wait on a network.
template <class Store>
std::shared_ptr<void> abandon_calls(Store& store) {
  if constexpr (requires { store.abandon_calls(); }) {
    return std::make_shared<decltype(store.abandon_calls())>(store.abandon_calls());
  } else {
    return nullptr;
  }
}

}  // namespace detail
}  // namespace herald
