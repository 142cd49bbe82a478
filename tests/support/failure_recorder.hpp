// SPDX-License-Identifier: MIT
#pragma once

// A failure sink that keeps a copy of every record, for tests to inspect.

#include <chrono>
#include <condition_variable>
#include <herald/runtime/failure.hpp>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace herald_test {

struct recorded_failure {
  herald::failure_kind kind{};
  std::string part, name, message_id, text;
  herald::errc code{};
  std::uint32_t attempt = 0;
  std::optional<herald::time_point> retry_at;
  std::string payload{};
};

class failure_recorder final : public herald::failure_sink {
 public:
  void report(const herald::failure& f) override {
    std::lock_guard lock(mutex_);
    records_.push_back({f.kind, std::string(f.part), std::string(f.name), std::string(f.message_id),
                        std::string(f.text), f.code, f.attempt, f.retry_at,
                        std::string(f.payload)});
    changed_.notify_all();
  }

  // Waits until `n` records came, with a generous deadline: never a bare sleep.
  bool wait_for_count(std::size_t n, std::chrono::seconds limit = std::chrono::seconds(30)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return records_.size() >= n; });
  }

  [[nodiscard]] std::vector<recorded_failure> all() const {
    std::lock_guard lock(mutex_);
    return records_;
  }

  [[nodiscard]] std::vector<recorded_failure> of(herald::failure_kind kind) const {
    std::vector<recorded_failure> out;
    for (auto& r : all()) {
      if (r.kind == kind) out.push_back(r);
    }
    return out;
  }

  // Records of what should never happen in a healthy run.
  [[nodiscard]] std::vector<std::string> troubles() const {
    std::vector<std::string> out;
    for (auto& r : all()) {
      using k = herald::failure_kind;
      if (r.kind == k::store_failed || r.kind == k::lease_lost || r.kind == k::stop_deadline ||
          r.kind == k::callback_threw) {
        out.push_back(std::string(herald::to_string(r.kind)) + ": " + r.text);
      }
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<recorded_failure> records_;
};

}  // namespace herald_test
