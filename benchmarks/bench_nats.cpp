// SPDX-License-Identifier: MIT
// Topics over NATS JetStream against raw libnats doing the same by hand, in
// one run against one server: a publish that waits for its PubAck, batches
// whose acknowledgements are awaited together, and a round trip (publish,
// fetch, handle, AckSync). The raw side sends the same envelope bytes with
// the same Nats-Msg-Id header; herald also encodes each event.
// Run: scripts/with-nats build/release/benchmarks/bench_nats  (ratios print
// after the table), or HERALD_BENCH_NATS=<url> build/release/benchmarks/bench_nats.

#include <benchmark/benchmark.h>
#include <fmt/core.h>
#include <nats/nats.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <herald/nats/nats_transport.hpp>
#include <herald/topic/topic.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "ratio_reporter.hpp"

namespace {

struct reading {
  static constexpr std::string_view event_type = "bench.sensor.reading";
  std::string sensor;
  double value = 0;
  long long n = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(reading, sensor, value, n)

constexpr int batch = 1000;  // messages per iteration of the batch and round-trip benchmarks

const char* server() {
  for (const char* name : {"HERALD_BENCH_NATS", "HERALD_TEST_NATS"}) {
    if (const char* url = std::getenv(name); url && *url) return url;
  }
  return nullptr;
}

// Names of their own per run and benchmark: streams outlive the process.
std::string unique(const std::string& what) {
  static int counter = 0;
  return "bench" + std::to_string(::getpid()) + "x" + std::to_string(counter++) + "_" + what;
}

herald::nats_options bench_options() {
  herald::nats_options o;
  o.url = server();
  o.stream_prefix = unique("herald");
  o.max_age = std::chrono::minutes(10);
  return o;
}

// What herald would put on the wire for the n-th reading: the raw side sends these bytes.
std::string envelope(long long n) {
  herald::message<reading> m(reading{"hall", 21.5, n});
  m.id = herald::new_id();
  m.source = "/herald/topic";
  m.time = std::chrono::system_clock::now();
  return herald::encode(m);
}

void check(natsStatus s, const char* what) {
  if (s != NATS_OK) throw std::runtime_error(std::string(what) + ": " + natsStatus_GetText(s));
}

// The raw side: one connection, one stream of its own.
struct raw_jetstream {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  std::string stream = unique("raw");
  std::string subject = stream + ".readings";

  raw_jetstream() {
    check(natsConnection_ConnectTo(&nc, server()), "connect");
    jsOptions o;
    jsOptions_Init(&o);
    o.PublishAsync.MaxPending = 4096;
    check(natsConnection_JetStream(&js, nc, &o), "jetstream");
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    config.Name = stream.c_str();
    const char* subjects[] = {subject.c_str()};
    config.Subjects = subjects;
    config.SubjectsLen = 1;
    config.MaxAge = std::chrono::nanoseconds(std::chrono::minutes(10)).count();
    config.Storage = js_FileStorage;
    check(js_AddStream(nullptr, js, &config, nullptr, nullptr), "add stream");
  }
  ~raw_jetstream() {
    js_DeleteStream(js, stream.c_str(), nullptr, nullptr);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
  }
  natsMsg* message(const std::string& body, const std::string& id) const {
    natsMsg* m = nullptr;
    check(natsMsg_Create(&m, subject.c_str(), nullptr, body.data(), static_cast<int>(body.size())),
          "message");
    natsMsgHeader_Set(m, "content-type", "application/cloudevents+json");
    natsMsgHeader_Set(m, "Nats-Msg-Id", id.c_str());
    return m;
  }
};

void BM_baseline_js_publish(benchmark::State& state) {
  raw_jetstream raw;
  const std::string body = envelope(0);
  long long n = 0;
  for (auto _ : state) {
    natsMsg* m = raw.message(body, "raw-" + std::to_string(n++));
    jsPubAck* ack = nullptr;
    check(js_PublishMsg(&ack, raw.js, m, nullptr, nullptr), "publish");
    jsPubAck_Destroy(ack);
    natsMsg_Destroy(m);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_topic_publish_nats(benchmark::State& state) {
  herald::nats_transport transport(bench_options());
  herald::topic<reading, herald::nats_transport> readings(transport, unique("t") + ".readings");
  long long n = 0;
  for (auto _ : state) readings.publish(reading{"hall", 21.5, n++});
  state.SetItemsProcessed(state.iterations());
}

void raw_publish_async(raw_jetstream& raw, const std::string& body, long long& n) {
  for (int i = 0; i < batch; ++i) {
    natsMsg* m = raw.message(body, "raw-" + std::to_string(n++));
    check(js_PublishMsgAsync(raw.js, &m, nullptr), "publish async");
    natsMsg_Destroy(m);
  }
  jsPubOptions wait;
  jsPubOptions_Init(&wait);
  wait.MaxWait = 30000;
  check(js_PublishAsyncComplete(raw.js, &wait), "acks");
}

void BM_baseline_js_publish_async(benchmark::State& state) {
  raw_jetstream raw;
  const std::string body = envelope(0);
  long long n = 0;
  for (auto _ : state) raw_publish_async(raw, body, n);
  state.SetItemsProcessed(state.iterations() * batch);
}

std::vector<reading> readings_batch(long long& n) {
  std::vector<reading> events;
  events.reserve(batch);
  for (int i = 0; i < batch; ++i) events.push_back({"hall", 21.5, n++});
  return events;
}

void BM_topic_publish_async_nats(benchmark::State& state) {
  herald::nats_transport transport(bench_options());
  herald::topic<reading, herald::nats_transport> readings(transport, unique("t") + ".readings");
  long long n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const auto events = readings_batch(n);
    state.ResumeTiming();
    readings.publish_batch(events);
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

void BM_baseline_js_roundtrip(benchmark::State& state) {
  raw_jetstream raw;
  const std::string body = envelope(0);
  jsConsumerConfig config;
  jsConsumerConfig_Init(&config);
  config.Durable = "raw";
  config.AckPolicy = js_AckExplicit;
  config.MaxDeliver = 5;
  config.FilterSubject = raw.subject.c_str();
  check(js_AddConsumer(nullptr, raw.js, raw.stream.c_str(), &config, nullptr, nullptr), "consumer");
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = raw.stream.c_str();
  so.Consumer = "raw";
  natsSubscription* sub = nullptr;
  check(js_PullSubscribe(&sub, raw.js, raw.subject.c_str(), "raw", nullptr, &so, nullptr),
        "subscribe");
  long long n = 0;
  for (auto _ : state) {
    raw_publish_async(raw, body, n);
    for (int received = 0; received < batch;) {
      natsMsgList list{};
      jsFetchRequest request;
      jsFetchRequest_Init(&request);
      request.Batch = 64;
      request.Expires = std::chrono::nanoseconds(std::chrono::seconds(1)).count();
      if (natsSubscription_FetchRequest(&list, sub, &request) != NATS_OK) continue;
      for (int i = 0; i < list.Count; ++i) {
        // What a handler would read: the envelope parsed.
        const auto doc = nlohmann::json::parse(
            natsMsg_GetData(list.Msgs[i]),
            natsMsg_GetData(list.Msgs[i]) + natsMsg_GetDataLength(list.Msgs[i]));
        benchmark::DoNotOptimize(doc);
        check(natsMsg_AckSync(list.Msgs[i], nullptr, nullptr), "ack");
        ++received;
      }
      natsMsgList_Destroy(&list);
    }
  }
  natsSubscription_Destroy(sub);
  state.SetItemsProcessed(state.iterations() * batch);
}

void BM_topic_roundtrip_nats(benchmark::State& state) {
  auto options = bench_options();
  herald::nats_transport transport(options);
  herald::topic<reading, herald::nats_transport> readings(transport, unique("t") + ".readings");
  std::mutex mutex;
  std::condition_variable done;
  long long handled = 0;
  herald::subscribe_options group;
  group.group = "bench";
  auto sub = readings.subscribe(
      [&](const reading&) {
        std::lock_guard lock(mutex);
        if (++handled % batch == 0) done.notify_all();
      },
      group);
  long long n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const auto events = readings_batch(n);
    state.ResumeTiming();
    readings.publish_batch(events);
    std::unique_lock lock(mutex);
    done.wait(lock, [&] { return handled >= n; });
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

[[maybe_unused]] const bool registered = [] {
  if (!server()) {
    fmt::print(stderr,
               "bench_nats: no NATS server named (HERALD_BENCH_NATS or HERALD_TEST_NATS): "
               "nothing to measure; run scripts/with-nats build/release/benchmarks/bench_nats\n");
    return false;
  }
  // Waiting for the broker is the cost: rates in wall-clock time.
  benchmark::RegisterBenchmark("BM_topic_publish/nats", BM_topic_publish_nats)->UseRealTime();
  benchmark::RegisterBenchmark("BM_baseline_js_publish", BM_baseline_js_publish)->UseRealTime();
  benchmark::RegisterBenchmark("BM_topic_publish_async/nats", BM_topic_publish_async_nats)
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_baseline_js_publish_async", BM_baseline_js_publish_async)
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_topic_roundtrip/nats", BM_topic_roundtrip_nats)->UseRealTime();
  benchmark::RegisterBenchmark("BM_baseline_js_roundtrip", BM_baseline_js_roundtrip)->UseRealTime();
  return true;
}();

}  // namespace

int main(int argc, char** argv) {
  // Each at least 80% of its raw baseline's items/s.
  return herald_bench::run(
      argc, argv,
      {{"BM_topic_publish/nats", "BM_baseline_js_publish", 1.0 / 0.8},
       {"BM_topic_publish_async/nats", "BM_baseline_js_publish_async", 1.0 / 0.8},
       {"BM_topic_roundtrip/nats", "BM_baseline_js_roundtrip", 1.0 / 0.8}});
}
