// SPDX-License-Identifier: MIT
#pragma once

// Where an ephemeral consumer's subscriber stands in its stream, so that a
// consumer the server dropped can be made again without losing a message.

#include <algorithm>  // std::max
#include <cstdint>    // stream sequences
#include <set>        // sequences not yet acknowledged

namespace herald::detail {

class nats_consumer_position {
 public:
  // The stream's last sequence before the consumer's first message.
  void begin_after(std::uint64_t sequence) noexcept { highest_ = sequence; }

  // A message was delivered; it counts as unconfirmed until confirmed().
  void delivered(std::uint64_t sequence) {
    highest_ = std::max(highest_, sequence);
    unconfirmed_.insert(sequence);
  }

  // Acknowledged, or dead-lettered: not to be read again.
  void confirmed(std::uint64_t sequence) noexcept { unconfirmed_.erase(sequence); }

  // Where a new consumer starts: at the first message not confirmed (what the
  // old consumer would have delivered again), else just past the last seen.
  [[nodiscard]] std::uint64_t restart_at() const noexcept {
    return unconfirmed_.empty() ? highest_ + 1 : *unconfirmed_.begin();
  }

 private:
  std::uint64_t highest_ = 0;
  std::set<std::uint64_t> unconfirmed_;
};

}  // namespace herald::detail
