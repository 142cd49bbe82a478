// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>   // timeouts, ages, windows
#include <cstddef>  // batch sizes
#include <string>   // url, names, subjects
#include <vector>   // explicit streams and their subjects

#include "herald/clock.hpp"
#include "herald/queue/retry_policy.hpp"
#include "herald/runtime/failure.hpp"
#include "herald/runtime/metrics.hpp"

namespace herald {

/// How a JetStream stream keeps messages (JetStream's retention policy).
enum class nats_retention {
  limits,      ///< until max_age (or the server's limits): fan-out and replay
  interest,    ///< until every consumer that exists has acknowledged it
  work_queue,  ///< until one consumer has acknowledged it (one consumer per subject)
};

/// A stream the operator names, holding a set of subjects. A subscription
/// whose filter has wildcards needs one that holds them all.
struct nats_stream {
  std::string name;
  std::vector<std::string> subjects;
};

/// Where a new durable consumer starts.
enum class nats_start {
  new_messages,  ///< messages published after it was made (as an in-process subscriber)
  all,           ///< everything the stream still holds
};

struct nats_options {
  /// The server, e.g. "nats://127.0.0.1:4222" (a comma-separated list for a cluster).
  std::string url = "nats://127.0.0.1:4222";
  /// What the server shows for this connection.
  std::string connection_name = "herald";

  // --- streams ---
  /// Streams herald makes on first use are named `<stream_prefix>-<subject>`
  /// (a dot becomes '_', '-' "--", '_' "-u", and any other character but
  /// letters and digits "-XX"), one per topic. Letters, digits, '_' and '-'.
  std::string stream_prefix = "herald";
  /// Streams the operator names; a topic or filter that one of them holds
  /// uses it instead of a stream of its own. The first that holds it wins.
  std::vector<nats_stream> streams{};
  /// Make a missing stream (with the settings below); false: a missing one
  /// is errc::broker_refused, for deployments whose streams an operator owns.
  bool create_streams = true;
  nats_retention retention = nats_retention::limits;
  /// How long a stream keeps a message; zero: no limit.
  duration max_age{};
  /// Copies in a cluster (1 on a single server).
  int replicas = 1;
  /// How long the stream remembers message ids: a republish of one within it
  /// is acknowledged as a duplicate and stored once.
  duration duplicate_window = std::chrono::minutes(2);

  // --- publishing ---
  /// How long publish() tries for JetStream's acknowledgement, through
  /// reconnects, before it throws errc::broker_unavailable.
  duration publish_timeout = std::chrono::seconds(10);
  /// CloudEvents' binary mode (the NATS protocol binding): attributes as
  /// `ce-` headers, data as the body, as other CloudEvents SDKs send on NATS.
  /// false: structured mode (the envelope as the body). Subscribers read both.
  bool binary_mode = false;
  /// How long one attempt waits for its acknowledgement.
  duration ack_timeout = std::chrono::seconds(2);
  /// publish_batch(): publishes awaiting JetStream's acknowledgement at once,
  /// at most; a batch beyond it waits for acknowledgements to come back.
  std::size_t max_pending_acks = 4096;

  // --- subscribing ---
  /// Where a durable consumer starts the first time it is made.
  nats_start start = nats_start::new_messages;
  /// The server redelivers what is not acknowledged within this; herald
  /// tells it a handler is still working (in-progress acks) every third of it.
  duration ack_wait = std::chrono::seconds(30);
  /// Backoff of redeliveries (each failure is answered with a Nak that
  /// carries this delay, never a bare Nak) and max_attempts (the consumer's
  /// MaxDeliver); after the last attempt the message is dead-lettered.
  retry_policy retry{std::chrono::milliseconds(500), 2.0, std::chrono::minutes(1), 5, true};
  /// Failed messages go to `<dead_letter_subject>.<their subject>`, in the
  /// stream `<stream_prefix>-dead_letter` (made on first use), with the
  /// reason and attempt count in headers, and are then Term'ed.
  std::string dead_letter_subject = "herald.dead_letter";
  /// The most messages one pull request asks for (bounded, see docs/nats.md).
  std::size_t fetch_batch = 64;
  /// How long one pull request waits for messages; herald enforces it itself too.
  duration fetch_wait = std::chrono::seconds(1);
  /// An unnamed fan-out subscriber's consumer is removed this long after it goes away.
  duration ephemeral_inactivity = std::chrono::seconds(30);

  // --- connection ---
  /// How long the first connect may take before the constructor throws.
  duration connect_timeout = std::chrono::seconds(5);
  /// Between reconnect attempts (the client reconnects for ever).
  duration reconnect_wait = std::chrono::milliseconds(250);

  /// Stamps nothing on messages (topics do): reads backoff and outage times.
  clock_ref clock{};
  /// Receives dead-lettered messages, broker outages and failures herald
  /// could not hand to a caller; null: one line on stderr.
  failure_sink* failures = nullptr;
  /// Counts published, duplicate, delivered, acknowledged, redelivered and
  /// dead-lettered messages per subject; null: nothing is counted.
  metrics_registry* metrics = nullptr;
};

}  // namespace herald
