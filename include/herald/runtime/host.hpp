// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>           // what is left of the deadline
#include <chrono>              // the shared stop deadline
#include <condition_variable>  // a second stop waits for the first
#include <cstddef>             // counts
#include <memory>              // type-erased parts
#include <mutex>               // start/stop from any thread
#include <nlohmann/json.hpp>   // health as JSON
#include <string>              // names
#include <vector>              // parts in order

#include "herald/error.hpp"
#include "herald/runtime/failure.hpp"
#include "herald/runtime/part.hpp"
#include "herald/runtime/signals.hpp"

namespace herald {

struct host_options {
  /// The one executor of every part that was given none (workers run their
  /// handlers on it). Null: each part uses its own threads.
  executor* runs_on = nullptr;
  /// Receives the failures of every part that was given no sink; null: stderr.
  failure_sink* failures = nullptr;
  /// Every part that was given no registry counts into this one.
  metrics_registry* metrics = nullptr;
};

/// What host::stop() left behind: one report per part, in stop order.
struct host_stop_report {
  bool in_time = true;
  std::vector<stop_report> parts;
};

/// Owns an application's running parts: one start() in the order they were
/// added, one stop(deadline) in reverse order, health for all of them. A part
/// is anything that satisfies herald::part (workers now; relays, projections,
/// saga engines and schedulers plug in the same way, and so can your own).
/// Parts are held by reference and must outlive the host. add() before
/// start(); start(), stop(), health() and wait() may be called from any
/// thread, but not from a part's handler.
class host {
 public:
  explicit host(host_options options = {}) : options_(options) {}
  host(const host&) = delete;
  host& operator=(const host&) = delete;
  ~host() { stop(); }

  /// Adds a part; it takes the host's executor, sink and metrics where it has none.
  template <part P>
  P& add(P& p) {
    std::lock_guard lock(mutex_);
    if (started_ || stopping_) {
      throw error(errc::invalid_argument,
                  "host: add() every part before start() (a stop under way is still iterating "
                  "the parts)");
    }
    p.use(part_context{options_.runs_on, options_.failures, options_.metrics});
    parts_.push_back(std::make_unique<model<P>>(p));
    return p;
  }

  /// Starts every part in the order added. If one throws, those already
  /// started are stopped (in reverse) and the exception propagates.
  void start() {
    std::lock_guard lock(mutex_);
    if (started_) return;
    if (stopping_) throw error(errc::invalid_argument, "host: start() while a stop is under way");
    std::size_t i = 0;
    try {
      for (; i < parts_.size(); ++i) parts_[i]->start();
    } catch (...) {
      while (i-- > 0) parts_[i]->stop(std::chrono::seconds(30));
      throw;
    }
    started_ = true;
  }

  /// Stops every part in reverse order within one shared `deadline`: each
  /// part gets what is left of it (plus its own documented grace). What did
  /// not stop in time is in the report and goes to the failure sink.
  /// health() answers while it runs; a second stop() waits for the first.
  host_stop_report stop(duration deadline = std::chrono::seconds(30)) {
    host_stop_report report;
    {
      std::unique_lock lock(mutex_);
      stopped_.wait(lock, [&] { return !stopping_; });
      if (!started_) return report;
      started_ = false;
      stopping_ = true;
    }
    // Parts are not added once started: the list stays as it is.
    const auto until = std::chrono::steady_clock::now() + deadline;
    for (auto it = parts_.rbegin(); it != parts_.rend(); ++it) {
      const auto left =
          std::max(duration::zero(), duration(until - std::chrono::steady_clock::now()));
      auto r = (*it)->stop(left);
      if (!r.in_time) {
        report.in_time = false;
        const std::string text = std::to_string(r.abandoned.size()) +
                                 " handler(s) still running at the host's stop deadline";
        detail::report_failure(options_.failures, {failure_kind::stop_deadline,
                                                   "host",
                                                   r.name,
                                                   errc::stopped,
                                                   {},
                                                   0,
                                                   text,
                                                   std::nullopt});
      }
      report.parts.push_back(std::move(r));
    }
    std::lock_guard lock(mutex_);
    signals_.reset();
    stopping_ = false;
    stopped_.notify_all();
    return report;
  }

  /// Runs every part once at `now`, in order; returns the work they did
  /// (none while a stop is under way: its parts are being stopped).
  std::size_t run_once(time_point now) {
    std::lock_guard lock(mutex_);
    if (stopping_) return 0;
    std::size_t n = 0;
    for (auto& p : parts_) n += p->run_once(now);
    return n;
  }

  [[nodiscard]] std::vector<part_health> health() const {
    std::lock_guard lock(mutex_);
    std::vector<part_health> out;
    out.reserve(parts_.size());
    for (const auto& p : parts_) out.push_back(p->health());
    return out;
  }

  /// True while started and no part is stopped or failing.
  [[nodiscard]] bool healthy() const { return all_running(health()); }

  /// {"healthy": bool, "parts": [{"name", "state", "reason", "last_error"}]},
  /// e.g. for a /health endpoint.
  [[nodiscard]] std::string health_json() const {
    nlohmann::json parts = nlohmann::json::array();
    const auto all = health();
    for (const auto& h : all) {
      parts.push_back({{"name", h.name},
                       {"state", h.state == part_state::running   ? "running"
                                 : h.state == part_state::failing ? "failing"
                                                                  : "stopped"},
                       {"reason", h.reason},
                       {"last_error", h.last_error}});
    }
    return nlohmann::json{{"healthy", all_running(all)}, {"parts", parts}}.dump();
  }

  /// Opt-in: from now on SIGINT and SIGTERM make wait() return. Restores the
  /// previous handlers at stop().
  void stop_on_signals() {
    std::lock_guard lock(mutex_);
    if (!signals_) signals_ = std::make_unique<detail::stop_signals>(stop_requested_);
  }

  /// Blocks until a signal arrives (after stop_on_signals()) or
  /// request_stop() is called, then stops every part with `deadline`.
  host_stop_report wait(duration deadline = std::chrono::seconds(30)) {
    stop_requested_.wait();
    return stop(deadline);
  }

  /// Makes wait() return; any thread may call it, and so may a signal
  /// handler (it only writes one byte to a pipe).
  void request_stop() noexcept { stop_requested_.post(); }

 private:
  static bool all_running(const std::vector<part_health>& all) {
    bool ok = !all.empty();
    for (const auto& h : all) ok = ok && h.state == part_state::running;
    return ok;
  }

  struct concept_t {
    virtual ~concept_t() = default;
    virtual void start() = 0;
    virtual stop_report stop(duration) = 0;
    virtual std::size_t run_once(time_point) = 0;
    virtual part_health health() const = 0;
  };
  template <class P>
  struct model final : concept_t {
    explicit model(P& p) : part(&p) {}
    void start() override { part->start(); }
    stop_report stop(duration d) override { return part->stop(d); }
    std::size_t run_once(time_point now) override {
      return static_cast<std::size_t>(part->run_once(now));
    }
    part_health health() const override { return part->health(); }
    P* part;
  };

  host_options options_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<concept_t>> parts_;
  bool started_ = false;
  bool stopping_ = false;
  std::condition_variable stopped_;
  detail::wakeup_pipe stop_requested_;
  std::unique_ptr<detail::stop_signals> signals_;
};

}  // namespace herald
