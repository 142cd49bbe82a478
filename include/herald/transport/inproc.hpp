// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>           // the slots this thread holds
#include <atomic>              // member liveness, round-robin cursors, sequence numbers
#include <condition_variable>  // publishers wait for a free slot
#include <cstddef>             // slot counts
#include <cstdint>             // ids
#include <exception>           // failed deliveries
#include <functional>          // handlers
#include <memory>              // copy-on-write registry, lifetime token
#include <mutex>               // guards the registry pointer
#include <string>              // filters, group names
#include <string_view>         // subjects
#include <utility>             // std::move
#include <vector>              // members

#include "herald/error.hpp"
#include "herald/runtime/failure.hpp"
#include "herald/subscription.hpp"
#include "herald/transport/concepts.hpp"
#include "herald/transport/subject.hpp"

namespace herald {

/// The default transport: delivery inside this process, synchronously on the
/// publishing thread. Fan-out subscribers each get every message; members of
/// a named group compete, each message going to one member, spread round-robin.
/// A handler that throws has not acknowledged: the message goes to the next
/// member of its group (or again to the same fan-out subscriber) until
/// `max_deliver` attempts, then is reported to the failure sink and dropped. Any thread may publish
/// and subscribe at once. A member that leaves receives no delivery that
/// starts afterwards (one another thread had already begun may still finish)
/// and loses nothing, since a message is in flight only while its handler
/// runs; a message that a leaving fan-out subscriber had failed, or that
/// finds every member of its group gone, is reported the same way.
/// Handlers run on the publishing threads, so one handler may run on
/// several threads at once — at most `subscribe_options::max_in_flight` of
/// them (0: no bound): a publisher that finds them all taken waits for one to
/// finish, which bounds the work in flight per subscription. A handler that
/// publishes to its own subscription while this thread holds a slot of it
/// and none is free gets errc::would_deadlock instead of waiting for itself.
class inproc_transport {
 public:
  using transport_concept = transport_tag;

  struct options {
    std::uint32_t max_deliver = 3;
    /// Receives undeliverable messages (failure_kind::handler_threw, with
    /// the attempts made); null: one line on stderr.
    failure_sink* failures = nullptr;
  };

  inproc_transport() : inproc_transport(options{}) {}
  explicit inproc_transport(options opts) : options_(std::move(opts)) {
    if (options_.max_deliver == 0) options_.max_deliver = 1;
  }

  ~inproc_transport() { source_->close(); }

  inproc_transport(const inproc_transport&) = delete;
  inproc_transport& operator=(const inproc_transport&) = delete;

  publish_result publish(std::string_view subject, wire_message message) {
    validate_subject(subject);
    message.subject = std::string(subject);
    publish_result result{sequence_.fetch_add(1, std::memory_order_relaxed) + 1};
    std::shared_ptr<const registry> current;
    {
      std::lock_guard lock(mutex_);
      current = registry_;
    }
    // One message for every subscriber: delivery is synchronous and one at a
    // time, so each sees its own attempt number, and what one decodes the next reuses.
    for (const auto& fan : current->fan_out) {
      if (subject_matches(fan->filter, subject)) deliver_fan_out(*fan, message);
    }
    for (const auto& g : current->groups) {
      if (subject_matches(g->filter, subject)) deliver_to_group(*g, message);
    }
    return result;
  }

  subscription subscribe(std::string_view subject, subscribe_options opts, wire_handler handler) {
    validate_subject(subject, true);
    auto m = std::make_shared<member>();
    m->filter = std::string(subject);
    m->handler = std::move(handler);
    m->max_in_flight = opts.max_in_flight;
    std::lock_guard lock(mutex_);
    m->id = ++last_id_;
    auto next = std::make_shared<registry>(*registry_);
    if (opts.group.empty()) {
      next->fan_out.push_back(m);
    } else {
      std::shared_ptr<group> target;
      for (auto& g : next->groups) {
        if (g->filter == m->filter && g->name == opts.group) {
          target = std::make_shared<group>(*g);  // copy: published snapshots keep the old one
          g = target;
        }
      }
      if (!target) {
        target = std::make_shared<group>();
        target->filter = m->filter;
        target->name = opts.group;
        next->groups.push_back(target);
      }
      target->members.push_back(m);
    }
    registry_ = std::move(next);
    return subscription(source_, &unsubscribe_thunk, this, 0, m->id);
  }

 private:
  struct member {
    std::uint64_t id = 0;
    std::string filter;
    wire_handler handler;
    std::atomic<bool> active{true};
    std::size_t max_in_flight = 0;  // 0: no bound, and no lock taken
    std::mutex slots;
    std::condition_variable slot_freed;
    std::size_t in_flight = 0;
  };

  // The members whose slots this thread holds: a nested publish must not wait for itself.
  static std::vector<const member*>& held_here() {
    static thread_local std::vector<const member*> held;
    return held;
  }

  // One of a member's max_in_flight slots, for one delivery attempt.
  class slot {
   public:
    // Waits for a free slot; false if the member left meanwhile.
    explicit slot(member& m) : m_(m.max_in_flight ? &m : nullptr) {
      if (!m_) return;
      auto& held = held_here();
      const bool nested = std::find(held.begin(), held.end(), m_) != held.end();
      std::unique_lock lock(m_->slots);
      if (nested && m_->in_flight >= m_->max_in_flight) {
        throw error(errc::would_deadlock,
                    "a handler of '" + m_->filter + "' published to its own subscription with " +
                        "all " + std::to_string(m_->max_in_flight) +
                        " of its max_in_flight slots taken; waiting would wait for itself");
      }
      m_->slot_freed.wait(lock, [&] {
        return m_->in_flight < m_->max_in_flight || !m_->active.load(std::memory_order_acquire);
      });
      if (!m_->active.load(std::memory_order_acquire)) {
        m_ = nullptr;
        left_ = true;
        return;
      }
      ++m_->in_flight;
      held.push_back(m_);
    }
    ~slot() {
      if (!m_) return;
      auto& held = held_here();
      held.erase(std::find(held.begin(), held.end(), m_));
      {
        std::lock_guard lock(m_->slots);
        --m_->in_flight;
      }
      m_->slot_freed.notify_one();
    }
    slot(const slot&) = delete;
    slot& operator=(const slot&) = delete;
    [[nodiscard]] bool member_left() const noexcept { return left_; }

   private:
    member* m_;
    bool left_ = false;
  };

  // Wakes publishers waiting for a slot of a member that has left.
  static void release_waiters(member& m) {
    m.active.store(false, std::memory_order_release);
    if (!m.max_in_flight) return;
    { std::lock_guard lock(m.slots); }
    m.slot_freed.notify_all();
  }

  struct group {
    group() = default;
    group(const group& other)
        : filter(other.filter), name(other.name), members(other.members), cursor(other.cursor) {}
    std::string filter;
    std::string name;
    std::vector<std::shared_ptr<member>> members;
    std::shared_ptr<std::atomic<std::size_t>> cursor =
        std::make_shared<std::atomic<std::size_t>>(0);
  };

  struct registry {
    std::vector<std::shared_ptr<member>> fan_out;
    std::vector<std::shared_ptr<group>> groups;
  };

  static void unsubscribe_thunk(void* self, std::size_t, std::uint64_t id) noexcept {
    static_cast<inproc_transport*>(self)->remove(id);
  }

  void remove(std::uint64_t id) noexcept {
    try {
      std::lock_guard lock(mutex_);
      auto next = std::make_shared<registry>();
      for (const auto& m : registry_->fan_out) {
        if (m->id == id) {
          release_waiters(*m);
        } else {
          next->fan_out.push_back(m);
        }
      }
      for (const auto& g : registry_->groups) {
        auto copy = std::make_shared<group>(*g);
        std::erase_if(copy->members, [&](const std::shared_ptr<member>& m) {
          if (m->id != id) return false;
          release_waiters(*m);
          return true;
        });
        if (!copy->members.empty()) next->groups.push_back(std::move(copy));
      }
      registry_ = std::move(next);
    } catch (...) {
      // Out of memory while unsubscribing: the handler stays; reset() is noexcept.
    }
  }

  // False if the handler threw (its exception in `failure`) or the member
  // left while this waited for a slot (`failure` untouched).
  bool try_deliver(member& m, wire_message& message, std::uint32_t attempt,
                   std::exception_ptr& failure) {
    slot taken(m);
    if (taken.member_left()) return false;
    message.delivery_attempt = attempt;
    try {
      m.handler(message);
      return true;
    } catch (...) {
      failure = std::current_exception();
      return false;
    }
  }

  void deliver_fan_out(member& m, wire_message& message) {
    std::exception_ptr failure;
    for (std::uint32_t attempt = 1; attempt <= options_.max_deliver; ++attempt) {
      if (!m.active.load(std::memory_order_acquire)) {
        // It left. Nothing is owed to it, unless it failed the message
        // first: then that failure is the message's last word, and is reported.
        if (failure) undeliverable(message, failure);
        return;
      }
      if (try_deliver(m, message, attempt, failure)) return;
    }
    undeliverable(message, failure);
  }

  void deliver_to_group(const group& g, wire_message& message) {
    std::exception_ptr failure;
    const std::size_t n = g.members.size();
    std::size_t start = g.cursor->fetch_add(1, std::memory_order_relaxed);
    std::uint32_t attempt = 0;
    // Members that left since this snapshot are skipped, so the message goes
    // to one still there; a failure moves it on to the next member.
    for (std::size_t tried = 0; attempt < options_.max_deliver && tried < n * options_.max_deliver;
         ++tried) {
      member& m = *g.members[(start + tried) % n];
      if (!m.active.load(std::memory_order_acquire)) continue;
      if (try_deliver(m, message, attempt + 1, failure)) return;
      if (m.active.load(std::memory_order_acquire)) ++attempt;  // it threw; else it left
    }
    if (attempt == 0) {
      // Every member left before it could be delivered: it vanishes unless reported.
      failure = std::make_exception_ptr(
          error(errc::stopped, "every member of group '" + g.name + "' on '" + g.filter +
                                   "' left before the message could be delivered"));
    }
    undeliverable(message, failure);
  }

  void undeliverable(const wire_message& message, std::exception_ptr failure) {
    const std::string text = "not acknowledged after " + std::to_string(message.delivery_attempt) +
                             " attempt(s), and dropped: " + detail::what_of(failure);
    detail::report_failure(options_.failures, {failure_kind::handler_threw,
                                               "inproc",
                                               message.subject,
                                               detail::code_of(failure),
                                               {},
                                               message.delivery_attempt,
                                               text,
                                               std::nullopt,
                                               message.data});
  }

  options options_;
  std::mutex mutex_;
  std::shared_ptr<const registry> registry_ = std::make_shared<registry>();
  std::atomic<std::uint64_t> sequence_{0};
  std::uint64_t last_id_ = 0;
  std::shared_ptr<subscription_source> source_ = subscription_source::make();
};

static_assert(transport<inproc_transport>);

}  // namespace herald
