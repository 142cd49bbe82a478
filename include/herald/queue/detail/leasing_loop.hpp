// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>   // free slots, backoff
#include <chrono>      // steady deadlines
#include <cstddef>     // counts
#include <exception>   // what an executor's post throws
#include <memory>      // drain tasks hold the core
#include <mutex>       // the core's lock
#include <stop_token>  // the loop's stop
#include <string>      // reports
#include <utility>     // std::move
#include <vector>      // batches

#include "herald/bus/executor.hpp"
#include "herald/error.hpp"
#include "herald/queue/detail/worker_core.hpp"
#include "herald/runtime/failure.hpp"

namespace herald::detail {

// Runs handlers from the core's buffer until it is empty: a task on the
// executor. At most `concurrency` of them run, so that is the bound.
template <class T, class Store>
void drain(const std::shared_ptr<worker_core<T, Store>>& c) {
  for (;;) {
    leased_message m;
    {
      std::lock_guard lock(c->mutex);
      if (c->tasks.empty()) {
        --c->drains;
        return;
      }
      m = std::move(c->tasks.front());
      c->tasks.pop_front();
    }
    c->run(std::move(m));
  }
}

// Buffers leased messages for the handlers: the worker's own threads take
// them, or up to `concurrency` drain tasks on the executor.
template <class T, class Store>
void dispatch(worker_core<T, Store>& c, std::vector<leased_message>& leased) {
  if (leased.empty()) return;
  std::size_t posts = 0;
  {
    std::lock_guard lock(c.mutex);
    for (auto& m : leased) {
      c.in_flight.emplace(m.seq, typename worker_core<T, Store>::slot{m.lease, m.id, false});
      c.tasks.push_back(std::move(m));
    }
    c.metrics.in_flight.set(static_cast<double>(c.in_flight.size()));
    if (c.options.handler_executor) {
      while (c.drains < c.options.concurrency && posts < c.tasks.size()) {
        ++c.drains;
        ++posts;
      }
    }
  }
  if (!c.options.handler_executor) {
    c.task_ready.notify_all();
    return;
  }
  for (std::size_t i = 0; i < posts; ++i) {
    try {
      c.options.handler_executor->post([self = c.shared_from_this()] { drain(self); });
    } catch (...) {
      // Not run: the buffered messages' leases expire and they come again.
      c.report(failure_kind::store_failed, errc::stopped, nullptr,
               "the handler executor refused work (" + what_of(std::current_exception()) +
                   "); leased messages will be redelivered when their leases expire");
      std::lock_guard lock(c.mutex);
      --c.drains;
      if (c.drains == 0) {
        for (const auto& m : c.tasks) c.in_flight.erase(m.seq);
        c.tasks.clear();
        c.changed.notify_all();
      }
    }
  }
}

// Extends the leases of handlers still running, copying no bodies.
template <class T, class Store>
void heartbeat(worker_core<T, Store>& c, time_point now) {
  std::vector<leased_message> running;
  {
    std::lock_guard lock(c.mutex);
    for (const auto& [seq, s] : c.in_flight) {
      if (s.handled) continue;
      leased_message lease_only;  // seq, lease and id: no body
      lease_only.seq = seq;
      lease_only.lease = s.lease;
      lease_only.id = s.id;
      running.push_back(std::move(lease_only));
    }
  }
  const time_point until = saturating_add(now, c.options.visibility_timeout);
  for (const auto& m : running) {
    if (c.store().extend(c.name, m, until)) continue;
    std::unique_lock lock(c.mutex);
    auto it = c.in_flight.find(m.seq);
    // A message settled since the copy was taken ended its lease on purpose.
    if (it == c.in_flight.end() || it->second.lease != m.lease || it->second.handled) continue;
    lock.unlock();
    c.report(failure_kind::lease_lost, errc::lease_lost, &m,
             "the lease was lost before the handler finished; the message may be handled "
             "again (raise visibility_timeout, or call delivery.extend() in long handlers)");
  }
}

// The one loop of a started worker: settles what handlers finished, leases
// up to the free slots when woken by a send or at each poll, and beats.
template <class T, class Store>
void leasing_loop(worker_core<T, Store>& c, std::stop_token stop) {
  using clock = std::chrono::steady_clock;
  constexpr auto settle_tick = std::chrono::milliseconds(1);
  const auto& o = c.options;
  auto next_beat = clock::now() + o.heartbeat;
  auto next_poll = clock::now();
  duration backoff = o.poll_interval;
  std::vector<settlement> batch;
  for (;;) {
    std::size_t free = 0;
    bool stopping = false;
    {
      std::unique_lock lock(c.mutex);
      const std::size_t capacity = o.concurrency + o.prefetch.value_or(0);
      auto room = [&] { return c.in_flight.size() < capacity + c.settled.size(); };
      // While handlers run, a tick flushes settlements that did not wake the loop.
      auto until = std::min(next_beat, next_poll);
      if (!c.in_flight.empty()) until = std::min(until, clock::now() + settle_tick);
      c.loop_wake.wait_until(lock, until, [&] {
        return stop.stop_requested() || !c.settled.empty() || (c.wake && room()) ||
               (clock::now() >= next_poll && room()) || clock::now() >= next_beat;
      });
      stopping = stop.stop_requested();
      if (c.abandoned) break;
      for (auto& s : c.settled) batch.push_back(std::move(s));
      c.settled.clear();
      const std::size_t busy = c.in_flight.size() - batch.size();
      const bool due = c.wake || clock::now() >= next_poll;
      if (!stopping && due && busy < capacity) {
        free = capacity - busy;
        c.wake = false;
      }
      if (stopping && batch.empty() && c.in_flight.empty()) break;
    }
    std::vector<leased_message> leased;
    try {
      const time_point now = c.clock.now();
      leased = c.settle_and_lease(batch, free, now);
      {
        std::lock_guard lock(c.mutex);
        for (const auto& s : batch) c.forget_locked(s.message.seq);
        c.last_error.clear();
      }
      batch.clear();
      backoff = o.poll_interval;
      // A full batch may leave more waiting: lease again once there is room.
      if (free > 0)
        next_poll = leased.size() == free ? clock::now() : clock::now() + o.poll_interval;
      if (clock::now() >= next_beat) {
        heartbeat(c, now);
        next_beat = clock::now() + o.heartbeat;
      }
    } catch (const store_error& e) {
      c.report(failure_kind::store_failed, e.code(), nullptr, e.what());
      if (!e.transient()) {
        std::lock_guard lock(c.mutex);
        c.stop_reason = e.what();
        break;  // handlers in flight end unsettled: their leases expire
      }
      backoff = std::min(backoff * 2, duration(std::chrono::seconds(5)));
      next_poll = clock::now() + backoff;  // the batch is kept and tried again
    } catch (...) {
      // A clock that threw, or memory: back off, keep the loop alive.
      c.report(failure_kind::store_failed, errc::storage_failed, nullptr,
               what_of(std::current_exception()));
      backoff = std::min(backoff * 2, duration(std::chrono::seconds(5)));
      next_poll = clock::now() + backoff;
    }
    dispatch(c, leased);
  }
  std::lock_guard lock(c.mutex);
  c.loop_done = true;
  c.changed.notify_all();
}

}  // namespace herald::detail
