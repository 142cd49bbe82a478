// SPDX-License-Identifier: MIT
#pragma once

#include <fmt/core.h>  // numbers in the text format

#include <atomic>      // series are updated from many threads without a lock
#include <chrono>      // durations observed in seconds
#include <cmath>       // NaN and infinities in the text
#include <cstddef>     // bucket counts
#include <cstdint>     // counts
#include <functional>  // collectors, visitors
#include <map>         // families by name, series by labels
#include <memory>      // series stay put while the registry grows
#include <mutex>       // registration and rendering
#include <string>      // names, labels, the text
#include <string_view>
#include <utility>  // std::move
#include <vector>   // labels, buckets

#include "herald/detail/collecting.hpp"
#include "herald/error.hpp"

namespace herald {

/// Label names and values of one series, e.g. {{"queue", "images"}}.
using metric_labels = std::vector<std::pair<std::string, std::string>>;

enum class metric_type { counter, gauge, histogram };

/// One series: a counter or gauge value, or a histogram's buckets. Updates
/// are lock-free; any thread may make them.
class metric_series {
 public:
  metric_series(metric_labels labels, std::vector<double> bounds)
      : labels_(std::move(labels)), bounds_(std::move(bounds)), buckets_(bounds_.size() + 1) {}

  void add(double by = 1) noexcept { fetch_add(value_, by); }
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void observe(double v) noexcept {
    std::size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    fetch_add(value_, v);  // the sum
  }

  [[nodiscard]] double value() const noexcept { return value_.load(std::memory_order_relaxed); }
  [[nodiscard]] const metric_labels& labels() const noexcept { return labels_; }
  [[nodiscard]] const std::vector<double>& bounds() const noexcept { return bounds_; }
  /// Observations at or below bounds()[i] (not cumulative); the last is +Inf's.
  [[nodiscard]] std::uint64_t bucket(std::size_t i) const noexcept {
    return buckets_[i].load(std::memory_order_relaxed);
  }

 private:
  static void fetch_add(std::atomic<double>& a, double by) noexcept {
    double old = a.load(std::memory_order_relaxed);
    while (!a.compare_exchange_weak(old, old + by, std::memory_order_relaxed)) {
    }
  }
  metric_labels labels_;
  std::vector<double> bounds_;
  std::vector<std::atomic<std::uint64_t>> buckets_;
  std::atomic<double> value_{0};
};

/// A handle that does nothing when no registry was given: parts update
/// through it unconditionally.
class metric_ref {
 public:
  metric_ref() noexcept = default;
  explicit metric_ref(metric_series* s) noexcept : series_(s) {}
  void add(double by = 1) const noexcept {
    if (series_) series_->add(by);
  }
  void set(double v) const noexcept {
    if (series_) series_->set(v);
  }
  template <class Rep, class Period>
  void observe(std::chrono::duration<Rep, Period> d) const noexcept {
    if (series_) series_->observe(std::chrono::duration<double>(d).count());
  }
  [[nodiscard]] explicit operator bool() const noexcept { return series_ != nullptr; }

 private:
  metric_series* series_ = nullptr;
};

/// Counters, gauges and histograms of every part, labelled by queue, topic
/// and handler, rendered in the Prometheus text exposition format. Gauges
/// that are read from a store (depth, lag) are refreshed by collectors just
/// before rendering. Registration and rendering take a lock; updates do not.
class metrics_registry {
 public:
  /// Seconds: 1 ms to 1 min, for handler durations.
  static std::vector<double> default_buckets() {
    return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  }

  metric_ref counter(std::string_view name, std::string_view help, metric_labels labels = {}) {
    return series(name, help, metric_type::counter, std::move(labels), {});
  }
  metric_ref gauge(std::string_view name, std::string_view help, metric_labels labels = {}) {
    return series(name, help, metric_type::gauge, std::move(labels), {});
  }
  metric_ref histogram(std::string_view name, std::string_view help, metric_labels labels = {},
                       std::vector<double> bounds = default_buckets()) {
    return series(name, help, metric_type::histogram, std::move(labels), std::move(bounds));
  }

  /// Called before each render/visit, e.g. to read a queue's depth. Returns
  /// a token for remove_collector(); a part removes its own when it goes. A
  /// collector that throws (its store is down) leaves the gauges it sets at
  /// their last values and counts one herald_metrics_collector_failures_total;
  /// the rest of the scrape goes on. A PostgreSQL store whose pool has no free
  /// connection fails a collector at once rather than blocking the scrape.
  std::uint64_t add_collector(std::function<void()> collect) {
    std::lock_guard lock(mutex_);
    collectors_.emplace(++last_collector_, std::move(collect));
    return last_collector_;
  }
  void remove_collector(std::uint64_t token) {
    std::lock_guard lock(mutex_);
    collectors_.erase(token);
  }

  /// Every series, after the collectors ran: the hook for bridging to
  /// OpenTelemetry or any other system.
  void visit(const std::function<void(std::string_view name, std::string_view help, metric_type,
                                      const metric_series&)>& visitor) {
    std::lock_guard lock(mutex_);
    run_collectors();
    for (const auto& [name, f] : families_) {
      for (const auto& [key, s] : f.series) visitor(name, f.help, f.type, *s);
    }
  }

  /// The Prometheus text exposition format (version 0.0.4).
  [[nodiscard]] std::string prometheus() {
    std::string out;
    std::string_view current;
    visit([&](std::string_view name, std::string_view help, metric_type type,
              const metric_series& s) {
      if (name != current) {
        current = name;
        out += "# HELP " + std::string(name) + " " + escape_help(help) + "\n";
        out += "# TYPE " + std::string(name) + " " +
               (type == metric_type::counter ? "counter"
                : type == metric_type::gauge ? "gauge"
                                             : "histogram") +
               "\n";
      }
      if (type != metric_type::histogram) {
        out += std::string(name) + render_labels(s.labels()) + " " + number(s.value()) + "\n";
        return;
      }
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i <= s.bounds().size(); ++i) {
        cumulative += s.bucket(i);
        const std::string le = i < s.bounds().size() ? number(s.bounds()[i]) : std::string("+Inf");
        out += std::string(name) + "_bucket" + render_labels(s.labels(), "le=\"" + le + "\"") +
               " " + std::to_string(cumulative) + "\n";
      }
      out +=
          std::string(name) + "_sum" + render_labels(s.labels()) + " " + number(s.value()) + "\n";
      out += std::string(name) + "_count" + render_labels(s.labels()) + " " +
             std::to_string(cumulative) + "\n";
    });
    return out;
  }

 private:
  // Under mutex_.
  void run_collectors() {
    struct flag {
      bool before = std::exchange(detail::collecting_metrics, true);
      ~flag() { detail::collecting_metrics = before; }
    } collecting;
    for (auto& [token, collect] : collectors_) {
      try {
        collect();
      } catch (...) {
        if (!collector_failures_) {
          collector_failures_ = series_locked(
              "herald_metrics_collector_failures_total",
              "Collectors that threw (a store that is down): their gauges kept their last values.",
              metric_type::counter, {}, {});
        }
        collector_failures_.add();
      }
    }
  }

  struct family {
    std::string help;
    metric_type type;
    std::map<std::string, std::unique_ptr<metric_series>> series;  // by rendered labels
  };

  metric_ref series(std::string_view name, std::string_view help, metric_type type,
                    metric_labels labels, std::vector<double> bounds) {
    check_name(name);
    for (const auto& [k, v] : labels) check_name(k);
    std::lock_guard lock(mutex_);
    return series_locked(name, help, type, std::move(labels), std::move(bounds));
  }

  metric_ref series_locked(std::string_view name, std::string_view help, metric_type type,
                           metric_labels labels, std::vector<double> bounds) {
    auto [it, fresh] =
        families_.try_emplace(std::string(name), family{std::string(help), type, {}});
    if (!fresh && it->second.type != type) {
      throw error(errc::invalid_argument,
                  "metrics: '" + std::string(name) + "' is registered already with another type");
    }
    auto& slot = it->second.series[render_labels(labels)];
    if (!slot) slot = std::make_unique<metric_series>(std::move(labels), std::move(bounds));
    return metric_ref(slot.get());
  }

  static void check_name(std::string_view name) {
    bool ok = !name.empty() && !(name[0] >= '0' && name[0] <= '9');
    for (char c : name) {
      ok = ok &&
           ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
    }
    if (!ok) {
      throw error(errc::invalid_argument,
                  "metrics: '" + std::string(name) +
                      "' is not a Prometheus name: use letters, digits and '_', not first a digit");
    }
  }

  static std::string render_labels(const metric_labels& labels, std::string_view extra = {}) {
    std::string out;
    for (const auto& [k, v] : labels) {
      out += out.empty() ? "{" : ",";
      out += k + "=\"";
      for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
          out += "\\n";
          continue;
        }
        out += c;
      }
      out += '"';
    }
    if (!extra.empty()) {
      out += out.empty() ? "{" : ",";
      out += extra;
    }
    if (!out.empty()) out += '}';
    return out;
  }

  static std::string number(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", v);
  }

  static std::string escape_help(std::string_view help) {
    std::string out;
    for (char c : help) {
      if (c == '\\') {
        out += "\\\\";
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += c;
      }
    }
    return out;
  }

  std::mutex mutex_;
  std::map<std::string, family> families_;
  std::map<std::uint64_t, std::function<void()>> collectors_;
  std::uint64_t last_collector_ = 0;
  metric_ref collector_failures_;
};

}  // namespace herald
