// SPDX-License-Identifier: MIT
#pragma once

#include <nats/nats.h>

#include <algorithm>      // the retired consumers
#include <chrono>         // publish deadlines
#include <cstdint>        // sequences, ids
#include <map>            // subscriptions by id, counters by subject
#include <memory>         // consumers shared with their loops
#include <mutex>          // the subscription table
#include <string>         // subjects, names
#include <string_view>    // subjects
#include <thread>         // waits between publish attempts
#include <unordered_map>  // counters by subject
#include <utility>        // std::move
#include <vector>         // consumers to stop

#include "herald/error.hpp"
#include "herald/id.hpp"
#include "herald/nats/detail/batch.hpp"
#include "herald/nats/detail/binary_mode.hpp"
#include "herald/nats/detail/connection.hpp"
#include "herald/nats/detail/names.hpp"
#include "herald/nats/detail/pull_consumer.hpp"
#include "herald/nats/detail/received.hpp"
#include "herald/nats/detail/streams.hpp"
#include "herald/nats/nats_options.hpp"
#include "herald/runtime/failure.hpp"
#include "herald/runtime/metrics.hpp"
#include "herald/subscription.hpp"
#include "herald/transport/concepts.hpp"
#include "herald/transport/subject.hpp"

namespace herald {

/// Topics between processes and machines over NATS JetStream, at least once.
///
/// publish() returns once JetStream has stored the message (its PubAck),
/// retrying through reconnects until `publish_timeout`; the message id goes
/// as Nats-Msg-Id, so a republish inside the stream's duplicate window is
/// acknowledged as a duplicate (publish_result::duplicate) and stored once.
/// Each topic has a stream of its own, made on first use (or one the
/// operator names in nats_options::streams).
///
/// subscribe() makes a pull consumer: durable and named after the group
/// (competing consumers: members in any process share it), else after
/// `durable_name` (a fan-out subscriber that resumes where it left off), else
/// ephemeral (removed once the subscriber goes). A thread per subscription
/// fetches bounded batches, runs the handler, and then acknowledges with
/// AckSync; a handler that throws gets a Nak carrying the retry policy's
/// delay; after `retry.max_attempts` deliveries (or at once for
/// errc::permanent_failure) the message goes to the dead-letter subject with
/// the reason and attempt count, and is Term'ed. While a handler runs, the
/// server is told every third of AckWait that it is still in progress.
/// Any thread may publish and subscribe at once. docs/nats.md has the rest.
class nats_transport {
 public:
  using transport_concept = transport_tag;

  /// Connects; throws errc::broker_unavailable if no server answers within connect_timeout.
  explicit nats_transport(nats_options options = {})
      : options_(std::move(options)), connection_(options_), streams_(options_, connection_.js()) {}

  /// Stops every subscription (after the handlers running now), then disconnects.
  ~nats_transport() {
    source_->close();
    std::map<std::uint64_t, std::shared_ptr<detail::nats_pull_consumer>> active;
    std::vector<std::shared_ptr<detail::nats_pull_consumer>> retired;
    {
      std::lock_guard lock(mutex_);
      active.swap(consumers_);
      retired.swap(retired_);
    }
    for (auto& [id, c] : active) c->stop();
    for (auto& c : retired) c->wait_finished();
  }

  nats_transport(const nats_transport&) = delete;
  nats_transport& operator=(const nats_transport&) = delete;

  publish_result publish(std::string_view subject, wire_message message) {
    validate_subject(subject);
    const std::string to(subject);
    streams_.holding(to);
    // Without an id a retry after a lost acknowledgement would store the
    // message twice: give it one.
    if (message.id.empty()) message.id = new_id();
    detail::check_nats_header_value("message id", message.id);
    natsMsg* msg = make_message(to, message.data);
    const auto result = publish_stored(msg, message.id, "publish to '" + to + "'");
    natsMsg_Destroy(msg);
    counters(to).add(result.duplicate);
    return result;
  }

  /// Publishes many messages without waiting for each acknowledgement (at
  /// most max_pending_acks outstanding), and returns once JetStream has
  /// acknowledged them all: results in the messages' order. One whose
  /// acknowledgement did not come is published again, with its id, so the
  /// stream stores it once. Throws like publish() if that fails too.
  std::vector<publish_result> publish_batch(std::string_view subject,
                                            std::vector<wire_message> messages) {
    validate_subject(subject);
    for (const auto& m : messages) detail::check_nats_header_value("message id", m.id);
    const std::string to(subject);
    streams_.holding(to);
    // A JetStream context of the transport's pool, this batch's alone while
    // it runs: its acknowledgements and its wait for them concern this batch.
    batch_lease lease(*this);
    detail::nats_batch& batch = lease.context->batch;
    jsCtx* js = lease.context->js;
    batch.reset(messages.size());
    const auto deadline = std::chrono::steady_clock::now() + options_.publish_timeout;
    for (std::size_t i = 0; i < messages.size(); ++i) {
      auto& m = messages[i];
      if (m.id.empty()) m.id = new_id();
      natsMsg* msg = make_message(to, m.data);
      batch.expect(msg, i);
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MsgId = m.id.c_str();
      natsStatus s = NATS_OK;
      // Stalls at max_pending_acks: it waits (StallWait), then says timeout.
      while ((s = js_PublishMsgAsync(js, &msg, &po)) != NATS_OK && detail::nats_transient(s) &&
             std::chrono::steady_clock::now() < deadline) {
      }
      if (s != NATS_OK) {
        batch.forget(msg);
        natsMsg_Destroy(msg);
        detail::throw_nats(s, {}, "cannot publish a batch to '" + to + "'");
      }
    }
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    const auto left = deadline - std::chrono::steady_clock::now();
    wait.MaxWait = std::max<std::int64_t>(1, detail::nats_ms(left));
    if (js_PublishAsyncComplete(js, &wait) != NATS_OK) {
      natsMsgList pending{};
      if (js_PublishAsyncGetPendingList(&pending, js) == NATS_OK) {
        batch.take_back(pending);  // now ours again: published below, one at a time
      }
    }
    auto results = batch.finish([&](natsMsg* msg, std::size_t i) {
      return publish_stored(msg, messages[i].id, "publish to '" + to + "'");
    });
    const auto& counted = counters(to);  // one lookup for the batch, not one per message
    for (const auto& r : results) counted.add(r.duplicate);
    return results;
  }

  subscription subscribe(std::string_view subject, subscribe_options options,
                         wire_handler handler) {
    validate_subject(subject, true);
    detail::nats_consumer_spec spec;
    spec.filter = std::string(subject);
    spec.stream = streams_.holding(subject);
    if (!options.group.empty() || !options.durable_name.empty()) {
      spec.name = detail::nats_consumer_name(options.group, options.durable_name);
    }
    spec.max_in_flight = options.max_in_flight;
    auto consumer = std::make_shared<detail::nats_pull_consumer>(
        connection_, options_, std::move(spec), std::move(handler),
        [this](natsMsg* m, const wire_message& wire, bool decoded, const std::string& reason,
               std::uint32_t attempts) { return dead_letter(m, wire, decoded, reason, attempts); });
    consumer->start();
    std::lock_guard lock(mutex_);
    consumers_.emplace(++last_id_, consumer);
    return subscription(source_, &unsubscribe_thunk, this, 0, last_id_);
  }

  /// The stream that holds `subject` (a topic's name, or a filter that one of
  /// nats_options::streams holds), made on first use.
  std::string stream_of(std::string_view subject) { return streams_.holding(subject); }

  /// Whether the connection is up now (it reconnects by itself).
  [[nodiscard]] bool connected() const noexcept { return connection_.connected(); }

  [[nodiscard]] const nats_options& options() const noexcept { return options_; }

  /// The underlying libnats handles, for what herald does not wrap.
  [[nodiscard]] natsConnection* native_connection() const noexcept { return connection_.get(); }
  [[nodiscard]] jsCtx* native_jetstream() const noexcept { return connection_.js(); }

 private:
  struct subject_counters {
    metric_ref published, duplicates;
    void add(bool duplicate) const noexcept { (duplicate ? duplicates : published).add(); }
  };

  // A JetStream context for batches, kept for the next one: opening one costs
  // a reply subscription (SUB, UNSUB) per batch. Its acknowledgement handler
  // writes to `batch`, which lives as long as the context.
  struct batch_context {
    detail::nats_batch batch{0};
    jsCtx* js = nullptr;
    batch_context() = default;
    batch_context(const batch_context&) = delete;
    batch_context& operator=(const batch_context&) = delete;
    ~batch_context() {
      if (js) jsCtx_Destroy(js);
    }
  };

  // Takes a context from the pool (or opens one) and gives it back, emptied
  // of what it still awaits, also when the batch failed: a late
  // acknowledgement then finds nothing of this batch (and no freed memory).
  struct batch_lease {
    nats_transport& owner;
    std::unique_ptr<batch_context> context;

    explicit batch_lease(nats_transport& t) : owner(t) {
      {
        std::lock_guard lock(owner.mutex_);
        if (!owner.batch_contexts_.empty()) {
          context = std::move(owner.batch_contexts_.back());
          owner.batch_contexts_.pop_back();
          return;
        }
      }
      context = std::make_unique<batch_context>();
      jsOptions o;
      jsOptions_Init(&o);
      o.Wait = detail::nats_ms(owner.options_.ack_timeout);
      o.PublishAsync.MaxPending = static_cast<std::int64_t>(owner.options_.max_pending_acks);
      o.PublishAsync.AckHandler = &detail::nats_batch::on_ack;
      o.PublishAsync.AckHandlerClosure = &context->batch;
      detail::nats_check(natsConnection_JetStream(&context->js, owner.connection_.get(), &o),
                         "cannot open a JetStream context for batches");
    }
    ~batch_lease() {
      natsMsgList pending{};
      if (js_PublishAsyncGetPendingList(&pending, context->js) == NATS_OK) {
        natsMsgList_Destroy(&pending);
      }
      context->batch.reset(0);
      try {
        std::lock_guard lock(owner.mutex_);
        owner.batch_contexts_.push_back(std::move(context));
      } catch (...) {
        // out of memory: this context is closed instead of kept
      }
    }
    batch_lease(const batch_lease&) = delete;
    batch_lease& operator=(const batch_lease&) = delete;
  };

  static void unsubscribe_thunk(void* self, std::size_t, std::uint64_t id) noexcept {
    static_cast<nats_transport*>(self)->remove(id);
  }

  void remove(std::uint64_t id) noexcept {
    std::shared_ptr<detail::nats_pull_consumer> consumer;
    {
      std::lock_guard lock(mutex_);
      auto it = consumers_.find(id);
      if (it == consumers_.end()) return;
      consumer = std::move(it->second);
      consumers_.erase(it);
    }
    consumer->stop();  // outside the lock: it waits for a handler that may subscribe
    if (consumer->finished()) return;
    // Stopped by its own handler: its loop ends after it; the destructor waits for that.
    std::lock_guard lock(mutex_);
    std::erase_if(retired_, [](const auto& c) { return c->finished(); });
    retired_.push_back(std::move(consumer));
  }

  natsMsg* make_message(const std::string& subject, const std::string& data) const {
    natsMsg* msg = nullptr;
    if (!options_.binary_mode) {
      detail::nats_check(natsMsg_Create(&msg, subject.c_str(), nullptr, data.data(),
                                        static_cast<int>(data.size())),
                         "cannot make a message for '" + subject + "'");
      natsMsgHeader_Set(msg, "content-type", "application/cloudevents+json");
      return msg;
    }
    const auto binary = detail::to_binary_mode(data);
    detail::nats_check(natsMsg_Create(&msg, subject.c_str(), nullptr, binary.body.data(),
                                      static_cast<int>(binary.body.size())),
                       "cannot make a message for '" + subject + "'");
    for (const auto& [name, value] : binary.headers) {
      natsMsgHeader_Set(msg, name.c_str(), value.c_str());
    }
    return msg;
  }

  // Publishes until JetStream stores it or publish_timeout passes.
  publish_result publish_stored(natsMsg* msg, const std::string& id, const std::string& what) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id.c_str();
    const auto deadline = std::chrono::steady_clock::now() + options_.publish_timeout;
    for (;;) {
      // An attempt waits for its acknowledgement no longer than the time
      // left: a publish_timeout below ack_timeout is honoured.
      const auto left = deadline - std::chrono::steady_clock::now();
      po.MaxWait = std::max<std::int64_t>(
          1, std::min(detail::nats_ms(options_.ack_timeout), detail::nats_ms(left)));
      jsPubAck* ack = nullptr;
      jsErrCode code{};
      const natsStatus s = js_PublishMsg(&ack, connection_.js(), msg, &po, &code);
      if (s == NATS_OK) {
        publish_result result{ack->Sequence, ack->Duplicate};
        jsPubAck_Destroy(ack);
        return result;
      }
      if (!detail::nats_transient(s) || std::chrono::steady_clock::now() >= deadline) {
        detail::throw_nats(s, code,
                           "cannot " + what + " (for " +
                               std::to_string(detail::nats_ms(options_.publish_timeout)) + " ms)");
      }
      std::this_thread::sleep_for(
          std::min<duration>(options_.reconnect_wait, deadline - std::chrono::steady_clock::now()));
    }
  }

  // Publishes a message whose last attempt failed to the dead-letter subject,
  // its reason and attempts in headers. False if that did not succeed. A
  // message that decoded goes as the handler saw it (a binary-mode one as its
  // structured envelope); one that never could goes as its bytes, its headers
  // kept as herald-original-<name>, so that no reader takes it for a
  // CloudEvent again.
  bool dead_letter(natsMsg* original, const wire_message& wire, bool decoded,
                   const std::string& reason, std::uint32_t attempts) noexcept {
    const std::string from = natsMsg_GetSubject(original);
    const std::string to = options_.dead_letter_subject + "." + from;
    const std::string_view body =
        decoded ? std::string_view(wire.data)
                : std::string_view(natsMsg_GetData(original),
                                   static_cast<std::size_t>(natsMsg_GetDataLength(original)));
    try {
      streams_.dead_letters();
      natsMsg* msg = nullptr;
      detail::nats_check(
          natsMsg_Create(&msg, to.c_str(), nullptr, body.data(), static_cast<int>(body.size())),
          "cannot make a dead letter");
      struct destroy {
        natsMsg* m;
        ~destroy() { natsMsg_Destroy(m); }
      } guard{msg};
      if (decoded) {
        natsMsgHeader_Set(msg, "content-type", "application/cloudevents+json");
      } else {
        for (const auto& [name, value] : detail::nats_headers(original)) {
          if (name.rfind("Nats-", 0) == 0) continue;  // the server's, for the original
          natsMsgHeader_Set(msg, ("herald-original-" + name).c_str(), value.c_str());
        }
      }
      // A header value is one line of printable characters.
      std::string header_reason = reason;
      std::replace_if(
          header_reason.begin(), header_reason.end(),
          [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }, ' ');
      natsMsgHeader_Set(msg, "herald-dead-letter-reason", header_reason.c_str());
      natsMsgHeader_Set(msg, "herald-attempts", std::to_string(attempts).c_str());
      natsMsgHeader_Set(msg, "herald-subject", from.c_str());
      // One dead letter per stored message, also if this process dies before its Term.
      std::string id = "dead-letter:" + from;
      if (jsMsgMetaData* meta = nullptr; natsMsg_GetMetaData(&meta, original) == NATS_OK) {
        id = std::string("dead-letter:") + meta->Stream + ":" +
             std::to_string(meta->Sequence.Stream);
        jsMsgMetaData_Destroy(meta);
      }
      publish_stored(msg, id, "dead-letter to '" + to + "'");
    } catch (const std::exception& e) {
      detail::report_failure(
          options_.failures,
          {failure_kind::broker_failed,
           "nats",
           from,
           errc::broker_unavailable,
           wire.id,
           attempts,
           std::string("could not dead-letter a message after ") + std::to_string(attempts) +
               " attempts (" + reason + "): " + e.what() + "; it will be delivered again",
           std::nullopt,
           {}});
      return false;
    }
    if (auto* r = options_.metrics) {
      r->counter("herald_nats_dead_lettered_total",
                 "Messages herald moved to the dead-letter subject.", {{"subject", from}})
          .add();
    }
    std::string text = "dead-lettered to '" + to + "' after " + std::to_string(attempts) +
                       " attempt(s): " + reason;
    detail::report_failure(options_.failures, {failure_kind::dead_lettered, "nats", from,
                                               decoded ? errc::handler_failed : errc::decode_failed,
                                               wire.id, attempts, text, std::nullopt, body});
    return true;
  }

  const subject_counters& counters(const std::string& subject) {
    std::lock_guard lock(mutex_);
    auto [it, fresh] = counters_.try_emplace(subject);
    if (fresh && options_.metrics) {
      const metric_labels l{{"subject", subject}};
      it->second.published =
          options_.metrics->counter("herald_nats_published_total", "Messages JetStream stored.", l);
      it->second.duplicates = options_.metrics->counter(
          "herald_nats_duplicates_total",
          "Publishes JetStream answered as duplicates (stored once, before).", l);
    }
    return it->second;
  }

  nats_options options_;
  detail::nats_connection connection_;
  detail::nats_streams streams_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<batch_context>> batch_contexts_;  // closed before the connection
  std::map<std::uint64_t, std::shared_ptr<detail::nats_pull_consumer>> consumers_;
  std::vector<std::shared_ptr<detail::nats_pull_consumer>> retired_;
  std::unordered_map<std::string, subject_counters> counters_;
  std::uint64_t last_id_ = 0;
  std::shared_ptr<subscription_source> source_ = subscription_source::make();
};

static_assert(transport<nats_transport>);

}  // namespace herald
