// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>       // the dead-letter count, read from any thread
#include <chrono>       // handler durations
#include <cstdint>      // counts
#include <memory>       // state shared with subscriptions
#include <span>         // batches of events
#include <string>       // the topic's name
#include <string_view>  // reasons
#include <type_traits>  // handler checks
#include <utility>      // std::move
#include <vector>       // batch results

#include "herald/codec.hpp"
#include "herald/detail/handler_traits.hpp"
#include "herald/detail/typed_frame.hpp"  // handlers' publishes carry causation
#include "herald/runtime/failure.hpp"
#include "herald/runtime/metrics.hpp"
#include "herald/transport/concepts.hpp"
#include "herald/transport/inproc.hpp"
#include "herald/transport/subject.hpp"

namespace herald {

struct topic_options {
  /// The CloudEvents source of messages published here.
  std::string source = "/herald/topic";
  /// Stamps message times.
  clock_ref clock{};
  /// Receives messages that do not decode as T (failure_kind::dead_lettered,
  /// with the decode error's code and text); null: one line on stderr.
  /// Either way they are counted, acknowledged and never redelivered.
  failure_sink* failures = nullptr;
  /// Counts published, delivered, handled, failed and dead-lettered messages
  /// and handler durations, labelled by topic (and subscriber: its group, else
  /// its durable name, else "anonymous"); null: nothing is counted.
  metrics_registry* metrics = nullptr;
  /// Bounds what subscribers decode, and what publish() accepts (it refuses
  /// with errc::limit_exceeded what its subscribers would refuse).
  decode_limits limits{};
};

/// A named, typed channel over a Transport: publish(e) encodes a CloudEvent
/// and hands it to the transport; subscribe(handler) decodes what arrives.
/// A message that does not decode as T goes to the dead-letter handler with
/// the reason, and the subscriber keeps running. A handler that throws leaves
/// the message unacknowledged, so the transport delivers it again.
template <class T, class Transport = inproc_transport>
class topic {
  static_assert(detail::check_event<T>());
  static_assert(detail::check_transport<Transport>());
  static_assert(serializable_event<T>,
                "herald: a topic's event must convert to and from JSON: give it to_json and "
                "from_json (or NLOHMANN_DEFINE_TYPE_INTRUSIVE)");

 public:
  /// `name` is the subject messages go to; it may not hold wildcards.
  topic(Transport& transport, std::string name, topic_options options = {})
      : transport_(transport), state_(std::make_shared<state>()) {
    validate_subject(name);
    state_->name = std::move(name);
    state_->options = std::move(options);
    if (auto* r = state_->options.metrics) {
      state_->published = r->counter("herald_topic_published_total",
                                     "Messages the transport accepted.", {{"topic", state_->name}});
    }
  }

  [[nodiscard]] const std::string& name() const noexcept { return state_->name; }

  publish_result publish(const T& event) { return publish(message<T>(event)); }

  /// Fills blank attributes as the bus does (id, source, time, and the
  /// correlation and causation of the message being handled on this thread).
  publish_result publish(message<T> m) {
    const auto& opts = state_->options;
    detail::check_publish_depth(event_type_v<T>);
    detail::fill_blank_attributes(m, event_type_v<T>, opts.source, opts.clock,
                                  detail::current_frame);
    wire_message wire;
    wire.data = encode(m, opts.limits);
    wire.id = m.id;
    auto result = transport_.publish(state_->name, std::move(wire));
    state_->published.add();
    return result;
  }

  /// Publishes many events: in one go over a transport that offers
  /// publish_batch (JetStream: their acknowledgements awaited together),
  /// else one by one. Results in the events' order.
  std::vector<publish_result> publish_batch(std::span<const T> events) {
    const auto& opts = state_->options;
    detail::check_publish_depth(event_type_v<T>);
    std::vector<wire_message> wires(events.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
      message<T> m(events[i]);
      detail::fill_blank_attributes(m, event_type_v<T>, opts.source, opts.clock,
                                    detail::current_frame);
      wires[i].data = encode(m, opts.limits);
      wires[i].id = m.id;
    }
    std::vector<publish_result> results;
    if constexpr (requires { transport_.publish_batch(state_->name, std::move(wires)); }) {
      results = transport_.publish_batch(state_->name, std::move(wires));
    } else {
      results.reserve(wires.size());
      for (auto& w : wires) results.push_back(transport_.publish(state_->name, std::move(w)));
    }
    state_->published.add(static_cast<double>(results.size()));
    return results;
  }

  /// Calls `handler` (taking `const T&` or `const message<T>&`) for messages
  /// on this topic; `options.group` makes it a competing consumer.
  template <class Handler>
  [[nodiscard]] subscription subscribe(Handler handler, subscribe_options options = {}) {
    static_assert(detail::check_handler<T, Handler>());
    subscriber_metrics counts(state_->options.metrics, state_->name, options);
    return transport_.subscribe(
        state_->name, std::move(options),
        [s = state_, counts, handler = std::move(handler)](const wire_message& wire) mutable {
          counts.delivered.add();
          const message<T>* decoded = nullptr;
          try {
            decoded = &decode_once(wire, s->options.limits);
          } catch (const decode_error& e) {
            counts.dead_lettered.add();
            s->dead_letter(wire, e);
            return;  // acknowledged: a message that cannot decode never will
          }
          const message<T>& m = *decoded;
          // Publishes from the handler carry this message's correlation and causation.
          detail::typed_frame<T, topic_options> frame(&m.data, &m, s->options);
          const auto started = std::chrono::steady_clock::now();
          try {
            if constexpr (detail::takes_event<T, Handler>) {
              handler(m.data);
            } else {
              handler(static_cast<const message<T>&>(m));
            }
          } catch (...) {
            counts.finished(false, std::chrono::steady_clock::now() - started);
            throw;  // the transport delivers it again
          }
          counts.finished(true, std::chrono::steady_clock::now() - started);
        });
  }

  /// Messages that did not decode, since the topic was made.
  [[nodiscard]] std::uint64_t dead_lettered() const noexcept {
    return state_->dead_lettered.load(std::memory_order_relaxed);
  }

 private:
  // A delivery's decoded form, shared by the subscribers it reaches (each
  // gets a const view), if they decode it as T with the same limits.
  struct decoded_message {
    decode_limits limits;
    message<T> m;
  };
  static constexpr char decoder_tag = 0;  // its address names this decoder

  static const message<T>& decode_once(const wire_message& wire, const decode_limits& limits) {
    if (wire.decoded_by == &decoder_tag) {
      const auto& cached = *static_cast<const decoded_message*>(wire.decoded.get());
      if (cached.limits.max_bytes == limits.max_bytes &&
          cached.limits.max_depth == limits.max_depth) {
        return cached.m;
      }
    }
    auto fresh =
        std::make_shared<decoded_message>(decoded_message{limits, decode<T>(wire.data, limits)});
    const message<T>& m = fresh->m;
    wire.decoded = std::move(fresh);
    wire.decoded_by = &decoder_tag;
    return m;
  }

  // One subscriber's series; all no-ops without a registry.
  struct subscriber_metrics {
    metric_ref delivered, handled, failed, dead_lettered, duration;

    subscriber_metrics(metrics_registry* r, const std::string& topic, const subscribe_options& o) {
      if (!r) return;
      const std::string& who = !o.group.empty()          ? o.group
                               : !o.durable_name.empty() ? o.durable_name
                                                         : anonymous;
      metric_labels l{{"topic", topic}, {"subscriber", who}};
      delivered = r->counter("herald_topic_delivered_total", "Messages a subscriber received.", l);
      handled = r->counter("herald_topic_handled_total", "Messages a handler returned from.", l);
      failed = r->counter("herald_topic_failed_total",
                          "Handler calls that threw (the transport delivers again).", l);
      dead_lettered = r->counter("herald_topic_dead_lettered_total",
                                 "Messages that did not decode as the topic's type.", l);
      duration = r->histogram("herald_topic_handler_duration_seconds",
                              "How long handlers ran, failures included.", l);
    }
    template <class D>
    void finished(bool ok, D took) const noexcept {
      (ok ? handled : failed).add();
      duration.observe(took);
    }
    static inline const std::string anonymous = "anonymous";
  };

  struct state {
    std::string name;
    topic_options options;
    std::atomic<std::uint64_t> dead_lettered{0};
    metric_ref published;

    void dead_letter(const wire_message& wire, const decode_error& e) {
      dead_lettered.fetch_add(1, std::memory_order_relaxed);
      detail::report_failure(options.failures,
                             {failure_kind::dead_lettered, "topic", name, e.code(), wire.id,
                              wire.delivery_attempt, e.what(), std::nullopt, wire.data});
    }
  };

  Transport& transport_;
  std::shared_ptr<state> state_;
};

}  // namespace herald
