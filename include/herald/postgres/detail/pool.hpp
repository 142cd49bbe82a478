// SPDX-License-Identifier: MIT
#pragma once

#include <condition_variable>  // waiting for a free connection
#include <cstddef>             // sizes
#include <functional>          // how a connection is opened
#include <memory>              // connections
#include <mutex>               // many threads
#include <set>                 // connections in use
#include <utility>             // std::exchange
#include <vector>              // idle connections

#include "herald/detail/collecting.hpp"
#include "herald/error.hpp"
#include "herald/postgres/detail/connection.hpp"

namespace herald::detail::postgres {

// At most `size` connections, opened when first needed and reopened after
// the server dropped one: a broken connection goes back to the pool only
// to be closed, so that the next caller gets a fresh one ("read again").
// While an abandonment lives (a part's stop past its deadline), the calls
// on connections in use fail at once and no connection is handed out.
class pool {
 public:
  using opener = std::function<std::unique_ptr<connection>()>;

  pool(std::size_t size, opener open) : size_(size == 0 ? 1 : size), open_(std::move(open)) {}

  // A connection held until it is destroyed.
  class lease {
   public:
    lease() = default;
    lease(pool* p, std::unique_ptr<connection> c) : pool_(p), c_(std::move(c)) {}
    lease(lease&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), c_(std::move(o.c_)) {}
    lease& operator=(lease&& o) noexcept {
      if (this != &o) {
        give_back();
        pool_ = std::exchange(o.pool_, nullptr);
        c_ = std::move(o.c_);
      }
      return *this;
    }
    ~lease() { give_back(); }
    connection* operator->() const noexcept { return c_.get(); }
    connection& operator*() const noexcept { return *c_; }

   private:
    void give_back() noexcept {
      if (pool_) pool_->put(std::move(c_));
      pool_ = nullptr;
    }
    pool* pool_ = nullptr;
    std::unique_ptr<connection> c_;
  };

  // Until destroyed: every connection of the pool in use or idle is cut
  // (its call fails with errc::storage_unavailable at once, however long
  // the server would keep it waiting) and take() refuses. For a stop
  // deadline: the threads the stop joins are in such calls.
  class abandonment {
   public:
    explicit abandonment(pool* p = nullptr) noexcept : pool_(p) {}
    abandonment(abandonment&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)) {}
    abandonment& operator=(abandonment&&) = delete;
    ~abandonment() {
      if (pool_) pool_->end_abandonment();
    }

   private:
    pool* pool_;
  };

  [[nodiscard]] abandonment abandon() {
    std::vector<std::unique_ptr<connection>> idle;
    {
      std::lock_guard lock(mutex_);
      ++abandoning_;
      // Under the lock: a connection in use is not closed (its fd not
      // reused) before put() takes the lock.
      for (connection* c : busy_) c->cut();
      open_count_ -= idle_.size();
      idle.swap(idle_);
    }
    freed_.notify_all();
    return abandonment(this);  // the idle ones close here, outside the lock
  }

  lease take() {
    std::unique_lock lock(mutex_);
    const auto refuse_if_abandoning = [&] {
      if (abandoning_ > 0) {
        throw store_error(errc::storage_unavailable,
                          "postgres: the store's calls were abandoned at a stop deadline (the "
                          "server did not answer); no new call starts until that stop has ended");
      }
    };
    refuse_if_abandoning();
    const auto free = [&] { return !idle_.empty() || open_count_ < size_; };
    if (herald::detail::collecting_metrics && !free()) {
      throw store_error(errc::storage_busy,
                        "postgres: every connection of the pool is in use; a metrics scrape does "
                        "not wait for one (the gauge keeps its last value)");
    }
    // A call already waiting when a stop abandons the pool must not go on to
    // open a new connection to the server that did not answer.
    freed_.wait(lock, [&] { return abandoning_ > 0 || free(); });
    refuse_if_abandoning();
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      busy_.insert(c.get());
      return {this, std::move(c)};
    }
    ++open_count_;
    lock.unlock();
    try {
      auto c = open_();
      lock.lock();
      if (abandoning_ > 0) c->cut();  // opened while a stop abandoned the others
      busy_.insert(c.get());
      return {this, std::move(c)};
    } catch (...) {
      if (!lock.owns_lock()) lock.lock();
      --open_count_;
      freed_.notify_one();
      throw;
    }
  }

 private:
  void end_abandonment() noexcept {
    std::lock_guard lock(mutex_);
    --abandoning_;
  }

  void put(std::unique_ptr<connection> c) noexcept {
    std::unique_ptr<connection> broken;
    {
      std::lock_guard lock(mutex_);
      busy_.erase(c.get());
      if (c && c->healthy() && abandoning_ == 0) {
        try {
          idle_.push_back(std::move(c));
        } catch (...) {
          broken = std::move(c);
          --open_count_;
        }
      } else {
        broken = std::move(c);
        --open_count_;
      }
    }
    freed_.notify_one();
    // closed outside the lock: PQfinish may wait for the network
  }

  std::size_t size_;
  opener open_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<connection>> idle_;
  std::set<connection*> busy_;  // handed out
  std::size_t open_count_ = 0;
  std::size_t abandoning_ = 0;
};

}  // namespace herald::detail::postgres
