// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>              // a stop past its deadline
#include <chrono>              // waits
#include <condition_variable>  // an idle loop wakes for stop()
#include <cstddef>             // counts
#include <cstdint>             // sequence numbers
#include <exception>           // a target's failure
#include <map>                 // destinations in an outage
#include <memory>              // an abandonment
#include <mutex>               // health, the loop's wait
#include <random>              // backoff jitter
#include <set>                 // keys that failed this round
#include <stop_token>          // the loop's stop
#include <string>              // owner, reasons
#include <thread>              // the loop
#include <type_traits>         // target results
#include <utility>             // std::move
#include <vector>              // batches

#include "herald/clock.hpp"
#include "herald/error.hpp"
#include "herald/id.hpp"
#include "herald/outbox/outbox.hpp"
#include "herald/queue/retry_policy.hpp"
#include "herald/runtime/failure.hpp"
#include "herald/runtime/metrics.hpp"
#include "herald/runtime/part.hpp"
#include "herald/store/field_limits.hpp"
#include "herald/store/outbox_store.hpp"
#include "herald/store/queue_store.hpp"
#include "herald/transport/concepts.hpp"

namespace herald {

struct relay_options {
  /// Names the relay in metrics, failures and its partition leases (a unique
  /// suffix is added per relay object, so processes may share a name).
  std::string name = "relay";
  /// Messages read and published per round.
  std::size_t batch = 100;
  /// Waits between failed publishes of one message (and its key behind it);
  /// after max_attempts failures the message is parked until released. A
  /// transient failure (errc::broker_unavailable, storage_unavailable,
  /// storage_busy, storage_full: the broker or store unreachable or not
  /// answering in time) spends no attempt: the destination waits this
  /// policy's backoff, growing per failure in a row, and is tried again for
  /// as long as the outage lasts.
  retry_policy retry{std::chrono::milliseconds(100), 2.0, std::chrono::seconds(30), 10, true};
  /// How long a partition stays with this relay without a renewal (renewed
  /// four times per lease). A relay that dies gives its keys up after this long.
  duration lease = std::chrono::seconds(15);
  /// Sleep between rounds that found nothing to do, under start().
  duration poll_interval = std::chrono::milliseconds(50);
  /// Sent messages are kept this long (marked sent), then pruned (a batch a
  /// second); zero: deleted as soon as they are sent.
  duration retention{};
  /// Unset: the outbox's clock.
  std::optional<clock_ref> clock{};
  failure_sink* failures = nullptr;  ///< null: the host's, or one line on stderr
  metrics_registry* metrics = nullptr;
};

/// Where a relay publishes a record: any callable taking `const
/// outbox_record&` that returns (void or a herald::publish_result) once the
/// target has accepted it, and throws if it did not.
template <class F>
concept relay_target = std::invocable<F&, const outbox_record&>;

/// A relay target publishing each record's envelope to the subject it was
/// staged for, on any Transport: topics of that name receive it. The
/// record's id travels as the message id, so a broker that de-duplicates
/// (JetStream) drops what a relay that died before marking it sent sends again.
template <class Transport>
auto to_transport(Transport& transport) {
  return [&transport](const outbox_record& r) {
    return transport.publish(r.destination, wire_message{r.destination, r.body, 1, r.id});
  };
}

/// A relay target sending each record to the herald queue named by its
/// destination, on `store` (any queue store). The record's key becomes the
/// message's FIFO group, so the queue keeps the order per key; its id is the
/// deduplication id, so a record the relay sends again inside `window` (it
/// died before marking it sent) is answered as a duplicate, not queued twice.
template <class Store>
auto to_queue(Store& store, duration window = std::chrono::minutes(5), clock_ref clock = {}) {
  static_assert(detail::check_queue_store<Store>());
  return [&store, window, clock](const outbox_record& r) {
    const time_point now = clock.now();
    const queue_message_draft draft{r.id, r.body, r.key, r.id, now};
    auto tx = store.begin();
    auto stored = store.enqueue(tx, r.destination, std::span(&draft, 1), now, window);
    tx.commit();
    return publish_result{0, stored.front().duplicate};
  };
}

/// Publishes what an outbox's transactions committed, in commit order per
/// key, at least once. Several relays (in one process or many) share the
/// outbox's partitions through leases; a key's messages wait behind its
/// failing head, other keys go on. A part: run_once(now) for tests and own
/// loops, start()/stop() for a loop thread of its own.
template <class Store, relay_target Target>
class relay {
 public:
  relay(outbox<Store>& box, Target target, relay_options options = {})
      : box_(&box),
        target_(std::move(target)),
        options_(std::move(options)),
        clock_(options_.clock.value_or(box.options().clock)),
        owner_(options_.name + "-" + new_id()) {
    if (options_.batch == 0) throw error(errc::invalid_argument, "relay: batch must be at least 1");
    // Its name begins the owner of its partition leases: two names that met
    // at a NUL would share leases and publish one partition twice.
    detail::check_field("relay name", options_.name, field_limits::inbox_consumer);
    if (options_.metrics) count_into(*options_.metrics);
  }
  relay(const relay&) = delete;
  relay& operator=(const relay&) = delete;
  ~relay() { stop(std::chrono::seconds(5)); }

  /// One round: renew and claim partitions, publish what is pending in them,
  /// mark it sent. Returns how many messages the target accepted.
  std::size_t run_once(time_point now) {
    auto& storage = box_->storage();
    std::size_t done = 0;
    try {
      set_health(part_state::running, {});
      // Claims are renewed four times per lease, not every round: a relay
      // joining waits at most a quarter lease for its share.
      if (held_.empty() || now >= next_claim_) {
        held_ = storage.claim(owner_, box_->options().partitions, now, options_.lease);
        next_claim_ = saturating_add(now, options_.lease / 4);
      }
      if (!held_.empty()) done = publish_pending(storage, now);
      if (now >= next_housekeeping_) {
        if (options_.retention > duration::zero()) {
          storage.prune_sent(now - options_.retention, options_.batch);
        }
        refresh_stats(storage, now);
        next_housekeeping_ = saturating_add(now, std::chrono::seconds(1));
      }
    } catch (...) {
      const std::string text = "the outbox's store failed (" +
                               detail::what_of(std::current_exception()) +
                               "); nothing is lost: unsent messages stay staged";
      report(failure_kind::store_failed, detail::code_of(std::current_exception()), {}, 0, text);
      set_health(part_state::failing, text);
      throw;
    }
    return done;
  }

  /// Starts the relay's loop thread; returns at once.
  void start() {
    if (loop_.joinable()) return;
    abandoned_ = false;
    set_health(part_state::running, {});
    loop_ = std::jthread([this](std::stop_token stop) { loop(stop); });
  }

  /// Ends the loop after the record under way and gives its partitions back
  /// (other relays take them at once). At `deadline` the outbox store's
  /// calls still waiting for their server are abandoned (PostgreSQL) and the
  /// partitions are left to expire; a publish under way is bounded by the
  /// target's own timeout (publish_timeout), which is the grace past `deadline`.
  stop_report stop(duration deadline) {
    stop_report report{options_.name, true, {}};
    if (!loop_.joinable()) return report;
    const auto until = std::chrono::steady_clock::now() + deadline;
    loop_.request_stop();
    wake_.notify_all();
    {
      std::unique_lock lock(mutex_);
      report.in_time = stopped_.wait_until(lock, until, [&] { return !running_; });
    }
    std::shared_ptr<void> abandoned;
    if (!report.in_time) {
      abandoned_ = true;
      abandoned = detail::abandon_calls(box_->store());
    }
    loop_.join();
    set_health(part_state::stopped, {});
    return report;
  }

  [[nodiscard]] part_health health() const {
    std::lock_guard lock(mutex_);
    return health_;
  }

  /// The host's failure sink and metrics, where the options gave none.
  void use(const part_context& context) {
    if (!options_.failures) options_.failures = context.failures;
    if (!options_.metrics && context.metrics) {
      options_.metrics = context.metrics;
      count_into(*context.metrics);
    }
  }

  /// This relay's name in partition leases.
  [[nodiscard]] const std::string& owner() const noexcept { return owner_; }
  /// The partitions it held after its last round.
  [[nodiscard]] const std::vector<partition_lease>& held() const noexcept { return held_; }

 private:
  template <class Storage>
  std::size_t publish_pending(Storage& storage, time_point now) {
    auto pending = storage.pending(held_, options_.batch, now);
    std::vector<std::int64_t> sent;
    std::set<std::string> failed_keys;  // their later messages wait for the next round
    // Per destination that is down: its messages read this round. They wait out
    // its outage in the store, or the next rounds would read them again and
    // again and never reach the other destinations' messages behind them.
    std::map<std::string, std::vector<std::int64_t>> deferred;
    std::size_t failures = 0;
    std::string first_failure;
    for (const auto& r : pending) {
      if (stop_.stop_requested()) break;  // a publish may take the target's whole timeout
      if (!r.key.empty() && failed_keys.count(r.key)) continue;
      if (!still_held(r.partition)) continue;  // the lease ran out under this round
      if (unavailable(r.destination, now)) {
        if (!r.key.empty()) failed_keys.insert(r.key);
        deferred[r.destination].push_back(r.seq);
        continue;
      }
      try {
        if (publish(r)) duplicates_.add();
        sent.push_back(r.seq);
        published_.add();
        outages_.erase(r.destination);
      } catch (...) {
        const std::string why = detail::what_of(std::current_exception());
        const errc code = detail::code_of(std::current_exception());
        if (!r.key.empty()) failed_keys.insert(r.key);
        if (transient(code)) {
          // The broker is down or slow, not refusing this message: an outage
          // must not spend the attempts that park messages, and trying the
          // rest of the destination's batch now would only wait out more timeouts.
          if (failures++ == 0) first_failure = why;
          outage(r, code, why, now);
          deferred[r.destination].push_back(r.seq);
          continue;
        }
        const std::uint32_t attempt = r.attempts + 1;
        const bool parked = storage.failed(r, why, now, saturating_add(now, backoff(attempt)),
                                           options_.retry.max_attempts);
        failed_.add();
        if (parked) {
          parked_.add();
          report(failure_kind::dead_lettered, errc::permanent_failure, r.id, attempt,
                 "parked after " + std::to_string(attempt) + " failed publishes to '" +
                     r.destination + "' (last: " + why + "); key '" + r.key +
                     "' waits behind it: outbox.release() it once the cause is fixed");
        } else if (failures++ == 0) {
          first_failure = why;
          report(failure_kind::retry_scheduled, detail::code_of(std::current_exception()), r.id,
                 attempt,
                 "publishing to '" + r.destination + "' failed (" + why +
                     "); it and the messages of its key behind it are tried again later");
        }
      }
    }
    if (!sent.empty()) storage.mark_sent(sent, now, options_.retention > duration::zero());
    for (const auto& [destination, seqs] : deferred) {
      storage.defer(seqs, outages_[destination].resume_at);
    }
    if (failures > 0) {
      set_health(part_state::failing, std::to_string(failures) +
                                          " publishes failed this round; first: " + first_failure);
    }
    return sent.size();
  }

  // True when the target reported a duplicate.
  bool publish(const outbox_record& r) {
    using result = std::invoke_result_t<Target&, const outbox_record&>;
    if constexpr (std::is_same_v<result, publish_result>) {
      return target_(r).duplicate;
    } else {
      target_(r);
      return false;
    }
  }

  bool still_held(std::uint32_t partition) const {
    const time_point now = clock_.now();
    for (const auto& l : held_) {
      if (l.partition == partition) return now < l.until;
    }
    return false;
  }

  duration backoff(std::uint32_t attempt) { return options_.retry.backoff(attempt, random_); }

  // Failures that may pass by themselves: the broker (or a queue target's
  // store) unreachable, busy or not answering in time.
  static bool transient(errc code) noexcept {
    return code == errc::broker_unavailable || code == errc::storage_unavailable ||
           code == errc::storage_busy || code == errc::storage_full;
  }

  // True while `destination` waits out the backoff of an outage.
  bool unavailable(const std::string& destination, time_point now) const {
    const auto o = outages_.find(destination);
    return o != outages_.end() && now < o->second.resume_at;
  }

  void outage(const outbox_record& r, errc code, const std::string& why, time_point now) {
    auto& o = outages_[r.destination];
    ++o.failures;
    const duration wait = backoff(o.failures);
    o.resume_at = saturating_add(now, wait);
    unavailable_.add();
    report(failure_kind::retry_scheduled, code, r.id, r.attempts,
           "publishing to '" + r.destination + "' failed for a cause that may pass (" + why +
               "); no attempt is spent: its messages are tried again in " +
               std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(wait).count()) +
               " ms (" + std::to_string(o.failures) + " such failures in a row)");
  }

  template <class Storage>
  void refresh_stats(Storage& storage, time_point now) {
    const outbox_stats s = storage.stats(now);
    backlog_.set(static_cast<double>(s.backlog));
    parked_now_.set(static_cast<double>(s.parked));
    oldest_.set(std::chrono::duration<double>(s.oldest_age).count());
  }

  void loop(std::stop_token stop) {
    {
      std::lock_guard lock(mutex_);
      running_ = true;
    }
    stop_ = stop;
    std::uint32_t failing = 0;
    while (!stop.stop_requested()) {
      std::size_t done = 0;
      bool failed = false;
      try {
        done = run_once(clock_.now());
      } catch (...) {
        failed = true;  // reported by run_once
      }
      failing = failed ? failing + 1 : 0;
      if (done > 0 && !failed) continue;
      const duration wait = failed ? options_.retry.ceiling(failing) : options_.poll_interval;
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, stop, std::chrono::duration_cast<std::chrono::nanoseconds>(wait),
                     [] { return false; });
    }
    try {
      // Past the stop deadline the store's calls are abandoned: the leases expire instead.
      if (!abandoned_) box_->storage().leave(owner_);
    } catch (...) {
      report(failure_kind::store_failed, detail::code_of(std::current_exception()), {}, 0,
             "giving the relay's partitions back failed (" +
                 detail::what_of(std::current_exception()) +
                 "); other relays take them when its leases expire");
    }
    std::lock_guard lock(mutex_);
    running_ = false;
    stopped_.notify_all();
  }

  void count_into(metrics_registry& r) {
    const metric_labels l{{"relay", options_.name}};
    published_ =
        r.counter("herald_relay_published_total", "Outbox messages the target accepted.", l);
    duplicates_ = r.counter("herald_relay_duplicates_total",
                            "Publishes the target answered as duplicates (a success).", l);
    failed_ = r.counter("herald_relay_failed_total",
                        "Failed publishes of outbox messages that spent an attempt.", l);
    unavailable_ = r.counter(
        "herald_relay_unavailable_total",
        "Publishes that failed for a cause that may pass (the broker unreachable, a timeout); "
        "they spend no attempt.",
        l);
    parked_ = r.counter("herald_relay_parked_total", "Outbox messages parked.", l);
    backlog_ = r.gauge("herald_outbox_backlog", "Committed outbox messages not yet sent.", l);
    parked_now_ = r.gauge("herald_outbox_parked", "Outbox messages parked now.", l);
    oldest_ = r.gauge("herald_outbox_oldest_age_seconds",
                      "Age of the oldest outbox message not yet sent.", l);
  }

  void report(failure_kind kind, errc code, std::string_view id, std::uint32_t attempt,
              const std::string& text) {
    detail::report_failure(options_.failures,
                           {kind, "relay", options_.name, code, id, attempt, text, std::nullopt});
  }

  void set_health(part_state state, std::string error) {
    std::lock_guard lock(mutex_);
    health_.name = options_.name;
    health_.state = state;
    if (state != part_state::running) health_.last_error = std::move(error);
  }

  outbox<Store>* box_;
  Target target_;
  relay_options options_;
  clock_ref clock_;
  std::string owner_;
  std::vector<partition_lease> held_;
  std::minstd_rand random_{std::random_device{}()};
  time_point next_claim_{};
  time_point next_housekeeping_{};  // pruning and the backlog gauges, once a second
  // A destination whose last publish failed for a transient cause, and when
  // it is tried again.
  struct outage_state {
    std::uint32_t failures = 0;  // in a row
    time_point resume_at;
  };
  std::map<std::string, outage_state> outages_;
  metric_ref published_, duplicates_, failed_, unavailable_, parked_, backlog_, parked_now_,
      oldest_;
  mutable std::mutex mutex_;
  std::condition_variable_any wake_;
  std::condition_variable_any stopped_;
  bool running_ = false;
  std::atomic<bool> abandoned_{false};  // the stop deadline passed
  std::stop_token stop_;                // the loop's: checked between records
  part_health health_;
  std::jthread loop_;
};

}  // namespace herald
