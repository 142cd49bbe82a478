// SPDX-License-Identifier: MIT
#pragma once

// One subscription over JetStream: a pull consumer (durable, or ephemeral for
// an unnamed fan-out subscriber) and the thread that fetches from it, runs
// the handler, acknowledges, naks with a delay, or dead-letters.

#include <nats/nats.h>

#include <algorithm>           // batch bounds
#include <atomic>              // stop flag
#include <chrono>              // waits
#include <condition_variable>  // the progress ticker and stop
#include <cstdint>             // sequences
#include <exception>           // handler failures
#include <functional>          // the dead-letter hook
#include <memory>              // the fetch loop keeps its consumer alive
#include <mutex>               // the batch the ticker reads
#include <random>              // backoff jitter
#include <string>              // names
#include <string_view>         // message ids
#include <thread>              // the fetch loop and the ticker

#include "herald/error.hpp"
#include "herald/nats/detail/connection.hpp"
#include "herald/nats/detail/consumer_position.hpp"
#include "herald/nats/detail/received.hpp"
#include "herald/nats/nats_options.hpp"
#include "herald/runtime/failure.hpp"
#include "herald/transport/concepts.hpp"

namespace herald::detail {

// A failed delivery's last attempt is published to the dead-letter subject by
// the transport, with its streams: `wire` as the handler saw it, or its raw
// bytes (`decoded` false); false if that failed, so the message must come again.
using nats_dead_letter = std::function<bool(natsMsg*, const wire_message& wire, bool decoded,
                                            const std::string& reason, std::uint32_t attempts)>;

inline constexpr std::int64_t nats_dead_letter_tries = 3;

// How many empty fetches in a row (of fetch_wait each) before an ephemeral
// consumer is looked for on the server.
inline constexpr int nats_idle_fetches_per_check = 5;

struct nats_consumer_spec {
  std::string stream;
  std::string filter;
  std::string name;  // empty: ephemeral
  std::size_t max_in_flight = 0;
};

class nats_pull_consumer : public std::enable_shared_from_this<nats_pull_consumer> {
 public:
  nats_pull_consumer(const nats_connection& connection, const nats_options& options,
                     nats_consumer_spec spec, wire_handler handler, nats_dead_letter dead_letter)
      : connection_(connection),
        options_(options),
        spec_(std::move(spec)),
        handler_(std::move(handler)),
        dead_letter_(std::move(dead_letter)) {
    batch_ = static_cast<int>(std::clamp<std::size_t>(
        spec_.max_in_flight ? std::min(spec_.max_in_flight, options_.fetch_batch)
                            : options_.fetch_batch,
        1, 256));
    consumer_ = ensure_consumer(0);
    try {
      bind();
    } catch (...) {
      remove_ephemeral();
      throw;
    }
    reconnects_ = connection_.reconnects();
  }

  // Starts fetching. The loop holds the consumer alive, so that a handler
  // may end its own subscription.
  void start() {
    fetcher_ = std::thread([self = shared_from_this()] { self->fetch_loop(); });
    ticker_ = std::thread([this] { progress_loop(); });
  }

  ~nats_pull_consumer() { stop(); }
  nats_pull_consumer(const nats_pull_consumer&) = delete;
  nats_pull_consumer& operator=(const nats_pull_consumer&) = delete;

  // Ends the loop and frees the subscription only once its thread is done
  // with it: libnats 3.4.1 can crash on a message for a subscription being
  // destroyed (nats.c #637). From the subscription's own handler, the loop
  // ends after that handler and frees it itself.
  void stop() noexcept {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
    }
    wake_.notify_all();
    if (ticker_.joinable()) ticker_.join();
    if (fetcher_.joinable()) {
      if (fetcher_.get_id() == std::this_thread::get_id()) {
        // Called by a handler: the loop sees stopping_ and releases sub_ as it leaves.
        std::lock_guard lock(mutex_);
        detached_ = true;
        fetcher_.detach();
        return;
      }
      fetcher_.join();
    }
    release();
    std::lock_guard lock(mutex_);
    finished_ = true;  // also when it never started
  }

  // Whether the fetch loop has ended and let go of the subscription.
  [[nodiscard]] bool finished() {
    std::lock_guard lock(mutex_);
    return finished_;
  }
  // Waits for that (a loop a handler stopped ends after that handler).
  void wait_finished() {
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [&] { return finished_; });
  }

 private:
  // Makes the consumer, or checks the durable one that exists. An ephemeral
  // one made again after a server restart starts at `start` (not 0).
  std::string ensure_consumer(std::uint64_t start) {
    jsConsumerConfig config;
    jsConsumerConfig_Init(&config);
    if (!spec_.name.empty()) config.Durable = spec_.name.c_str();
    config.AckPolicy = js_AckExplicit;
    config.AckWait = nats_ns(options_.ack_wait);
    // MaxDeliver always set (the server's default is for ever), a few above
    // max_attempts: herald dead-letters at max_attempts, and a dead-letter
    // publish that fails leaves the message to come again and try once more.
    config.MaxDeliver = std::int64_t{options_.retry.max_attempts} + nats_dead_letter_tries;
    config.FilterSubject = spec_.filter.c_str();
    config.DeliverPolicy = options_.start == nats_start::all ? js_DeliverAll : js_DeliverNew;
    if (start != 0) {
      config.DeliverPolicy = js_DeliverByStartSequence;
      config.OptStartSeq = start;
    }
    if (spec_.max_in_flight) config.MaxAckPending = static_cast<std::int64_t>(spec_.max_in_flight);
    if (spec_.name.empty()) config.InactiveThreshold = nats_ns(options_.ephemeral_inactivity);
    jsConsumerInfo* info = nullptr;
    jsErrCode code{};
    natsStatus s = NATS_NOT_FOUND;
    if (!spec_.name.empty()) {
      s = js_GetConsumerInfo(&info, connection_.js(), spec_.stream.c_str(), spec_.name.c_str(),
                             nullptr, &code);
      if (s != NATS_OK && s != NATS_NOT_FOUND && code != JSConsumerNotFoundErr) {
        throw_nats(s, code, "cannot read consumer '" + spec_.name + "' of '" + spec_.stream + "'");
      }
    }
    if (s != NATS_OK) {
      code = {};
      s = js_AddConsumer(&info, connection_.js(), spec_.stream.c_str(), &config, nullptr, &code);
      if (s != NATS_OK && (code == JSConsumerNameExistErr || code == JSConsumerExistingActiveErr)) {
        // Another member made it first.
        s = js_GetConsumerInfo(&info, connection_.js(), spec_.stream.c_str(), spec_.name.c_str(),
                               nullptr, &code);
      }
      if (s != NATS_OK) {
        throw_nats(s, code,
                   "cannot create consumer '" + spec_.name + "' on '" + spec_.stream + "'");
      }
    }
    std::string name = info->Name;
    const std::string filter = info->Config->FilterSubject ? info->Config->FilterSubject : "";
    // The last stream sequence before its first message (the server's head, for DeliverNew).
    if (spec_.name.empty() && start == 0) position_.begin_after(info->Delivered.Stream);
    jsConsumerInfo_Destroy(info);
    if (filter != spec_.filter) {
      throw error(errc::broker_refused,
                  "consumer '" + name + "' of stream '" + spec_.stream + "' reads '" + filter +
                      "', not '" + spec_.filter +
                      "'; a group or durable name belongs to one subject filter: use another name");
    }
    ephemeral_ = spec_.name.empty();
    return name;
  }

  void bind() {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = spec_.stream.c_str();
    so.Consumer = consumer_.c_str();
    jsErrCode code{};
    if (const natsStatus s = js_PullSubscribe(&sub_, connection_.js(), spec_.filter.c_str(),
                                              consumer_.c_str(), nullptr, &so, &code);
        s != NATS_OK) {
      sub_ = nullptr;
      throw_nats(s, code, "cannot bind to consumer '" + consumer_ + "' of '" + spec_.stream + "'");
    }
  }

  // An ephemeral consumer can be gone: dropped after ephemeral_inactivity
  // without this client (a long disconnection), lost in a server restart, or
  // deleted. After a reconnection or a fetch error, an unnamed subscriber
  // whose consumer is gone gets a new one that starts at its first message not
  // acknowledged (what the old one would have delivered again) or past the
  // last it saw. False while the server does not answer: try again later.
  bool recreate_if_gone() {
    if (!ephemeral_) return true;
    jsConsumerInfo* info = nullptr;
    jsErrCode code{};
    const natsStatus s = js_GetConsumerInfo(&info, connection_.js(), spec_.stream.c_str(),
                                            consumer_.c_str(), nullptr, &code);
    if (s == NATS_OK) jsConsumerInfo_Destroy(info);
    if (s != NATS_OK && s != NATS_NOT_FOUND && code != JSConsumerNotFoundErr) return false;
    const std::string old = consumer_;
    try {
      if (s != NATS_OK) {
        std::string fresh = ensure_consumer(position_.restart_at());
        if (sub_) natsSubscription_Destroy(sub_);  // this thread is the only one using it
        sub_ = nullptr;
        consumer_ = std::move(fresh);
      }
      if (!sub_) bind();  // failing, it leaves sub_ null: the loop comes back here
    } catch (const std::exception& e) {
      report(failure_kind::broker_failed, errc::broker_unavailable, 0,
             "consumer '" + old +
                 "' is gone (a server restart, a disconnection longer than "
                 "ephemeral_inactivity, or deleted), and making a new one failed: " +
                 e.what() + "; trying again");
      return false;
    }
    return true;
  }

  void remove_ephemeral() noexcept {
    if (!ephemeral_) return;
    js_DeleteConsumer(connection_.js(), spec_.stream.c_str(), consumer_.c_str(), nullptr, nullptr);
    ephemeral_ = false;
  }

  void release() noexcept {
    if (sub_) natsSubscription_Destroy(sub_);  // a durable consumer stays on the server
    sub_ = nullptr;
    remove_ephemeral();
  }

  bool stopping() {
    std::lock_guard lock(mutex_);
    return stopping_;
  }

  // Waits up to `d`, or until stop(); true if stopping.
  bool pause(duration d) {
    std::unique_lock lock(mutex_);
    return wake_.wait_for(lock, d, [&] { return stopping_; });
  }

  void fetch_loop() {
    std::minstd_rand random(std::random_device{}());
    bool outage = false;
    bool check_consumer = false;
    int idle = 0;  // fetches in a row that found nothing
    while (!stopping()) {
      if (ephemeral_) {
        if (const auto now = connection_.reconnects(); now != reconnects_) {
          reconnects_ = now;
          check_consumer = true;
        }
        if (check_consumer) check_consumer = !recreate_if_gone();
      }
      if (!sub_) {  // a consumer made again but not bound yet
        check_consumer = true;
        if (pause(options_.fetch_wait)) break;
        continue;
      }
      natsMsgList list{};
      jsFetchRequest request;
      jsFetchRequest_Init(&request);
      // One waiting pull request of a bounded batch, never the client's
      // no-wait-then-wait pair: that re-request is where 3.4.1 overflows its
      // buffer (nats.c #749).
      request.Batch = batch_;
      request.Expires = nats_ns(options_.fetch_wait);
      request.NoWait = false;
      const auto asked = std::chrono::steady_clock::now();
      const natsStatus s = natsSubscription_FetchRequest(&list, sub_, &request);
      if (s != NATS_OK) {
        const auto took = std::chrono::steady_clock::now() - asked;
        // Among the errors, the server's "consumer deleted" (sent only to a pull
        // request waiting at that moment): look whether the consumer is there.
        // And every few empty fetches, since a deletion between two requests
        // looks like nothing to fetch.
        if (s != NATS_TIMEOUT || ++idle % nats_idle_fetches_per_check == 0) check_consumer = true;
        if (s != NATS_TIMEOUT && !outage && !stopping()) {
          outage = true;
          report(failure_kind::broker_failed, errc::broker_unavailable, 0,
                 std::string("fetching from consumer '") + consumer_ +
                     "' failed: " + natsStatus_GetText(s) + "; retrying until the server answers");
        }
        // A timeout that comes back at once (nats.c #631, fixed after 3.4.1)
        // must not spin: wait out the rest of the fetch's time.
        if (took < options_.fetch_wait / 2 && pause(options_.fetch_wait - took)) break;
        continue;
      }
      outage = false;
      idle = 0;
      handle_batch(list, random);
      natsMsgList_Destroy(&list);
    }
    bool detached = false;
    {
      std::lock_guard lock(mutex_);
      detached = detached_;
    }
    if (detached) release();
    {
      std::lock_guard lock(mutex_);
      finished_ = true;
    }
    wake_.notify_all();
  }

  void handle_batch(natsMsgList& list, std::minstd_rand& random) {
    {
      std::lock_guard lock(mutex_);
      batch_msgs_ = list.Msgs;
      batch_count_ = list.Count;
      next_ = 0;
      progress_at_ = std::chrono::steady_clock::now() + options_.ack_wait / 3;
    }
    for (int i = 0; i < list.Count; ++i) {
      if (stopping()) {
        // Stopped mid-batch: what it did not reach goes back at once, to
        // another member or a later subscriber, rather than after AckWait.
        for (int j = i; j < list.Count; ++j) natsMsg_Nak(list.Msgs[j], nullptr);
        break;
      }
      handle(i, list.Msgs[i], random);
    }
    std::lock_guard lock(mutex_);
    batch_msgs_ = nullptr;
    batch_count_ = 0;
  }

  void handle(int index, natsMsg* msg, std::minstd_rand& random) {
    wire_message wire;
    jsMsgMetaData* meta = nullptr;
    std::uint64_t sequence = 0;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
      wire.delivery_attempt = static_cast<std::uint32_t>(meta->NumDelivered);
      sequence = meta->Sequence.Stream;
      jsMsgMetaData_Destroy(meta);
    }
    if (ephemeral_ && sequence != 0) position_.delivered(sequence);
    // Reading too: no bytes may throw out of this loop (and end the process).
    std::exception_ptr failure;
    bool decoded = false;
    try {
      read_message(msg, wire);
      decoded = true;
      handler_(wire);
    } catch (...) {
      failure = std::current_exception();
    }
    {
      // From here the ticker leaves this message alone: libnats' acks are not
      // meant to race on one message.
      std::lock_guard lock(mutex_);
      next_ = index + 1;
    }
    if (!failure) {
      // AckSync: an ack the server did not take (after AckWait, say) is seen
      // here, and the redelivery it means is counted in delivery_attempt.
      jsErrCode code{};
      if (const natsStatus s = natsMsg_AckSync(msg, nullptr, &code); s != NATS_OK) {
        report(failure_kind::broker_failed, errc::broker_unavailable, wire.delivery_attempt,
               std::string("the acknowledgement of a message on '") + wire.subject +
                   "' was not confirmed (" + natsStatus_GetText(s) +
                   "); the server will deliver it again",
               wire.id);
      } else {
        position_.confirmed(sequence);
      }
      return;
    }
    const std::string reason = what_of(failure);
    // Bytes that did not decode never will: dead-lettered at once.
    const bool permanent =
        code_of(failure) == (decoded ? errc::permanent_failure : errc::decode_failed);
    if ((permanent || wire.delivery_attempt >= options_.retry.max_attempts) &&
        dead_letter_(msg, wire, decoded, reason, wire.delivery_attempt)) {
      natsMsg_Term(msg, nullptr);     // JetStream keeps no dead letters of its own
      position_.confirmed(sequence);  // dead-lettered: not to be read again
      return;
    }
    // A delay with every Nak: a bare one redelivers at once and burns MaxDeliver.
    const auto delay = options_.retry.backoff(wire.delivery_attempt, random);
    natsMsg_NakWithDelay(msg, std::max<std::int64_t>(1, nats_ms(delay)), nullptr);
    report(failure_kind::handler_threw, code_of(failure), wire.delivery_attempt,
           (decoded ? "a handler of '" + wire.subject + "' threw: "
                    : "a message on '" + wire.subject + "' could not be read: ") +
               reason + "; delivered again in " + std::to_string(nats_ms(delay)) + " ms",
           wire.id);
  }

  // Tells the server, every third of AckWait, that the handler still works on
  // the current message and that the rest of the batch waits for it.
  void progress_loop() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      const auto tick = options_.ack_wait / 3;
      wake_.wait_for(lock, std::max<duration>(tick, std::chrono::milliseconds(10)),
                     [&] { return stopping_; });
      if (stopping_) break;
      if (!batch_msgs_ || std::chrono::steady_clock::now() < progress_at_) continue;
      for (int i = next_; i < batch_count_; ++i) natsMsg_InProgress(batch_msgs_[i], nullptr);
      progress_at_ = std::chrono::steady_clock::now() + tick;
    }
  }

  void report(failure_kind kind, errc code, std::uint32_t attempt, const std::string& text,
              std::string_view id = {}) {
    report_failure(options_.failures,
                   {kind, "nats", spec_.filter, code, id, attempt, text, std::nullopt, {}});
  }

  const nats_connection& connection_;
  const nats_options& options_;
  nats_consumer_spec spec_;
  wire_handler handler_;
  nats_dead_letter dead_letter_;
  int batch_ = 1;
  std::string consumer_;
  bool ephemeral_ = false;
  natsSubscription* sub_ = nullptr;
  // An ephemeral consumer's place, kept by the fetch loop to make it again.
  nats_consumer_position position_;
  std::uint64_t reconnects_ = 0;  // the connection's reconnects when last looked

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool detached_ = false;
  bool finished_ = false;
  natsMsg** batch_msgs_ = nullptr;  // the batch being handled, for the ticker
  int batch_count_ = 0;
  int next_ = 0;  // the first not yet handled
  std::chrono::steady_clock::time_point progress_at_{};
  std::thread fetcher_;
  std::thread ticker_;
};

}  // namespace herald::detail
