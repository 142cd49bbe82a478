// SPDX-License-Identifier: MIT
#pragma once

// The acknowledgements of one publish_batch(), which libnats reports on its
// own thread, matched to the messages' places in the batch.

#include <nats/nats.h>

#include <cstddef>        // places
#include <mutex>          // acknowledgements arrive on libnats' thread
#include <unordered_map>  // message -> place
#include <utility>        // pairs
#include <vector>         // results, messages to publish again

#include "herald/transport/concepts.hpp"

namespace herald::detail {

class nats_batch {
 public:
  explicit nats_batch(std::size_t size) : results_(size) {}
  ~nats_batch() { reset(0); }

  // Ready for a batch of `size` (one context serves one batch at a time).
  void reset(std::size_t size) {
    std::lock_guard lock(mutex_);
    for (auto& [msg, place] : again_) natsMsg_Destroy(msg);
    again_.clear();
    place_of_.clear();
    place_of_.reserve(size);  // no rehash while acknowledgements come in
    results_.assign(size, publish_result{});
  }
  nats_batch(const nats_batch&) = delete;
  nats_batch& operator=(const nats_batch&) = delete;

  // Before the message is published: its acknowledgement may come at once.
  void expect(natsMsg* msg, std::size_t place) {
    std::lock_guard lock(mutex_);
    place_of_[msg] = place;
  }
  void forget(natsMsg* msg) {
    std::lock_guard lock(mutex_);
    place_of_.erase(msg);
  }

  // libnats' jsPubAckHandler: the message is ours to destroy, or to keep
  // and publish again if JetStream answered with an error.
  static void on_ack(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr*, void* closure) {
    auto& self = *static_cast<nats_batch*>(closure);
    std::lock_guard lock(self.mutex_);
    const auto it = self.place_of_.find(msg);
    if (it == self.place_of_.end()) {
      natsMsg_Destroy(msg);
      return;
    }
    const std::size_t place = it->second;
    self.place_of_.erase(it);
    if (ack) {
      self.results_[place] = {ack->Sequence, ack->Duplicate};
      natsMsg_Destroy(msg);
    } else {
      self.again_.emplace_back(msg, place);
    }
  }

  // Messages whose acknowledgement never came, handed back by libnats.
  void take_back(natsMsgList& pending) {
    std::lock_guard lock(mutex_);
    for (int i = 0; i < pending.Count; ++i) {
      natsMsg* msg = pending.Msgs[i];
      if (auto it = place_of_.find(msg); it != place_of_.end()) {
        again_.emplace_back(msg, it->second);
        place_of_.erase(it);
        pending.Msgs[i] = nullptr;  // ours now: natsMsgList_Destroy leaves it
      }
    }
    natsMsgList_Destroy(&pending);
  }

  // Publishes what failed again with `publish(msg, place)`, then gives the results.
  template <class Publish>
  std::vector<publish_result> finish(Publish publish) {
    std::vector<std::pair<natsMsg*, std::size_t>> again;
    {
      std::lock_guard lock(mutex_);
      again.swap(again_);
    }
    for (std::size_t i = 0; i < again.size(); ++i) {
      try {
        results_[again[i].second] = publish(again[i].first, again[i].second);
      } catch (...) {
        for (std::size_t j = i; j < again.size(); ++j) natsMsg_Destroy(again[j].first);
        throw;
      }
      natsMsg_Destroy(again[i].first);
    }
    return std::move(results_);
  }

 private:
  std::mutex mutex_;
  std::unordered_map<natsMsg*, std::size_t> place_of_;
  std::vector<std::pair<natsMsg*, std::size_t>> again_;
  std::vector<publish_result> results_;
};

}  // namespace herald::detail
