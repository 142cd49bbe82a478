// SPDX-License-Identifier: MIT
// The outbox, relay and inbox conformance suite: every store with outbox and
// inbox tables runs it.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <herald/bus/bus.hpp>
#include <herald/outbox/inbox.hpp>
#include <herald/outbox/outbox.hpp>
#include <herald/outbox/relay.hpp>
#include <herald/runtime/host.hpp>
#include <herald/runtime/metrics.hpp>
#include <herald/store/field_limits.hpp>
#include <herald/store/memory_outbox.hpp>
#include <herald/testing/manual_clock.hpp>
#include <herald/topic/topic.hpp>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support/failure_recorder.hpp"
#include "support/outbox_fixtures.hpp"
#include "support/refusal.hpp"

using namespace std::chrono_literals;
using herald_test::order_placed;

namespace {

// What a relay target received, and a switch to make it fail. A started
// relay publishes from its own thread: wait_for() and numbers() may be
// called beside it.
struct recording_target {
  struct state {
    std::mutex mutex;
    std::condition_variable arrived;
    std::vector<herald::outbox_record> received;
    std::set<std::string> failing_keys;  // publishes of these keys throw
    std::atomic<bool> down{false};
    // Publishes throw errc::broker_unavailable, as a transport does while its
    // broker cannot be reached.
    std::atomic<bool> unreachable{false};
    std::set<std::string> unreachable_destinations;  // the same, for these destinations only
    bool duplicate = false;                          // answer every publish as a duplicate
  };
  std::shared_ptr<state> s = std::make_shared<state>();

  herald::publish_result operator()(const herald::outbox_record& r) const {
    if (s->down) throw std::runtime_error("broker unreachable");
    if (s->unreachable) throw herald::error(herald::errc::broker_unavailable, "no broker answers");
    std::lock_guard lock(s->mutex);
    if (s->unreachable_destinations.count(r.destination)) {
      throw herald::error(herald::errc::broker_unavailable,
                          "no broker answers for " + r.destination);
    }
    if (s->failing_keys.count(r.key)) throw std::runtime_error("rejected: " + r.key);
    s->received.push_back(r);
    s->arrived.notify_all();
    return {0, s->duplicate};
  }

  // Waits until `n` messages were received, with a generous deadline: never a bare sleep.
  bool wait_for(std::size_t n) const {
    std::unique_lock lock(s->mutex);
    return s->arrived.wait_for(lock, 30s, [&] { return s->received.size() >= n; });
  }

  // The order numbers received, in arrival order.
  [[nodiscard]] std::vector<int> numbers() const {
    std::lock_guard lock(s->mutex);
    std::vector<int> out;
    for (const auto& r : s->received) out.push_back(number(r));
    return out;
  }

  // The order numbers received, per key.
  [[nodiscard]] std::map<std::string, std::vector<int>> by_key() const {
    std::map<std::string, std::vector<int>> out;
    for (const auto& r : s->received) out[r.key].push_back(number(r));
    return out;
  }
  static int number(const herald::outbox_record& r) {
    return herald::decode<order_placed>(r.body).data.n;
  }
};

template <class Fixture>
struct bench {
  Fixture fixture;
  herald_test::failure_recorder failures;
  herald::manual_clock clock;
  herald::metrics_registry metrics;
  herald::outbox<decltype(Fixture::store)> box{
      fixture.store,
      herald::outbox_options{
          .source = "/test", .destination = "orders", .clock = clock, .metrics = &metrics}};
  recording_target target;

  herald::relay_options relay_options(std::string name = "relay") {
    herald::relay_options o;
    o.name = std::move(name);
    o.retry.base = 1s;
    o.retry.jitter = false;
    o.retry.max_attempts = 3;
    o.lease = 10s;
    o.failures = &failures;
    o.metrics = &metrics;
    return o;
  }

  void stage(const std::string& key, int n, bool commit = true) {
    auto tx = fixture.store.begin();
    fixture.write_business_row(tx, n);
    box.stage(tx, order_placed{key, n}, {.key = key});
    if (commit) tx.commit();
  }

  ~bench() {
    for (const auto& trouble : failures.troubles()) FAIL_CHECK(trouble);
  }
};

template <class Relay>
std::size_t drain(Relay& relay, herald::time_point now) {
  std::size_t total = 0;
  for (std::size_t n; (n = relay.run_once(now)) > 0;) total += n;
  return total;
}

}  // namespace

TEMPLATE_TEST_CASE("outbox: a rolled-back stage is never published, a committed one is",
                   "[outbox][conformance]", OUTBOX_STORES) {
  bench<TestType> b;
  b.stage("a", 1, false);  // rolled back
  b.stage("a", 2);
  herald::relay relay(b.box, b.target, b.relay_options());
  CHECK(drain(relay, b.clock.now()) == 1);
  REQUIRE(b.target.s->received.size() == 1);
  CHECK(recording_target::number(b.target.s->received[0]) == 2);
  CHECK(b.target.s->received[0].destination == "orders");
  CHECK(b.fixture.business_rows() == 1);  // the rolled-back row went with its message
  CHECK(b.box.stats().backlog == 0);
  CHECK(drain(relay, b.clock.now() + 1h) == 0);  // sent once, not again
}

TEMPLATE_TEST_CASE("outbox: per key, messages are published in commit order",
                   "[outbox][conformance]", OUTBOX_STORES) {
  bench<TestType> b;
  for (int i = 0; i < 30; ++i) b.stage(std::string(1, static_cast<char>('a' + i % 4)), i);
  herald::relay_options o = b.relay_options();
  o.batch = 7;  // several rounds
  herald::relay relay(b.box, b.target, o);
  CHECK(drain(relay, b.clock.now()) == 30);
  for (const auto& [key, numbers] : b.target.by_key()) {
    CHECK(std::is_sorted(numbers.begin(), numbers.end()));
  }
  CHECK(b.target.s->received.size() == 30);
}

TEMPLATE_TEST_CASE("outbox: a failing head blocks only its own key, then is parked",
                   "[outbox][conformance]", OUTBOX_STORES) {
  bench<TestType> b;
  for (int i = 0; i < 6; ++i) b.stage(i % 2 ? "bad" : "good", i);
  b.target.s->failing_keys = {"bad"};
  herald::relay relay(b.box, b.target, b.relay_options());
  CHECK(drain(relay, b.clock.now()) == 3);
  CHECK(b.target.by_key()["good"] == std::vector<int>{0, 2, 4});
  CHECK(b.failures.of(herald::failure_kind::retry_scheduled).size() == 1);
  // Before its backoff ends nothing of the key is tried; after it, its head again.
  CHECK(relay.run_once(b.clock.now() + 500ms) == 0);
  for (int round = 0; round < 2; ++round) {
    b.clock.advance(10s);
    CHECK(relay.run_once(b.clock.now()) == 0);
  }
  auto parked = b.box.parked();
  REQUIRE(parked.size() == 1);  // only the head: the others wait behind it
  CHECK(parked[0].key == "bad");
  CHECK(recording_target::number(parked[0]) == 1);
  CHECK(parked[0].reason.find("rejected: bad") != std::string::npos);
  CHECK(b.failures.of(herald::failure_kind::dead_lettered).size() == 1);
  CHECK(b.box.stats().parked == 1);
  CHECK(b.box.stats().backlog == 2);
  // Parked messages are not backlog: they have a gauge of their own to alert on.
  CHECK(herald_test::metric_value(b.metrics, "herald_outbox_parked", {{"relay", "relay"}}) == 1);
  b.stage("good", 6);  // other keys go on
  b.clock.advance(1h);
  CHECK(drain(relay, b.clock.now()) == 1);

  b.target.s->failing_keys.clear();
  CHECK(b.box.release() == 1);
  CHECK(drain(relay, b.clock.now()) == 3);
  CHECK(b.target.by_key()["bad"] == std::vector<int>{1, 3, 5});
  CHECK(b.box.stats().parked == 0);
}

TEMPLATE_TEST_CASE("outbox: a target that is down loses nothing; a duplicate answer is a success",
                   "[outbox][conformance]", OUTBOX_STORES) {
  bench<TestType> b;
  for (int i = 0; i < 4; ++i) b.stage("", i);  // no key: no order to keep
  b.target.s->down = true;
  herald::relay relay(b.box, b.target, b.relay_options());
  CHECK(relay.run_once(b.clock.now()) == 0);
  CHECK(relay.health().state == herald::part_state::failing);
  CHECK(b.box.stats().backlog == 4);
  b.target.s->down = false;
  b.target.s->duplicate = true;
  b.clock.advance(2s);
  CHECK(drain(relay, b.clock.now()) == 4);
  CHECK(b.box.stats().backlog == 0);
  CHECK(herald_test::metric_value(b.metrics, "herald_relay_duplicates_total",
                                  {{"relay", "relay"}}) == 4);
  CHECK(herald_test::metric_value(b.metrics, "herald_relay_published_total",
                                  {{"relay", "relay"}}) == 4);
}

TEMPLATE_TEST_CASE(
    "outbox: a broker outage longer than max_attempts rounds spends no attempt and parks nothing; "
    "all is published once the broker is back",
    "[outbox][conformance]", OUTBOX_STORES) {
  bench<TestType> b;
  for (int i = 0; i < 6; ++i) b.stage(i % 3 ? "k" + std::to_string(i % 3) : "", i);
  b.target.s->unreachable = true;
  herald::relay relay(b.box, b.target, b.relay_options());  // max_attempts 3
  const int rounds = 10;
  for (int round = 0; round < rounds; ++round) {
    CHECK(relay.run_once(b.clock.now()) == 0);
    b.clock.advance(10min);  // past the longest backoff
  }
  CHECK(relay.health().state == herald::part_state::failing);
  CHECK(b.box.parked().empty());
  CHECK(b.box.stats().parked == 0);
  CHECK(b.box.stats().backlog == 6);
  // One failed publish a round: the rest of the destination waits out the outage untried.
  CHECK(herald_test::metric_value(b.metrics, "herald_relay_unavailable_total",
                                  {{"relay", "relay"}}) == rounds);
  CHECK(herald_test::metric_value(b.metrics, "herald_relay_failed_total", {{"relay", "relay"}}) ==
        0);
  CHECK(b.failures.of(herald::failure_kind::dead_lettered).empty());

  // It fails once more; until its backoff ends nothing is tried, after it everything goes.
  CHECK(relay.run_once(b.clock.now()) == 0);
  b.target.s->unreachable = false;
  CHECK(relay.run_once(b.clock.now()) == 0);
  b.clock.advance(10min);
  CHECK(drain(relay, b.clock.now()) == 6);
  CHECK(b.target.by_key()["k1"] == std::vector<int>{1, 4});
  CHECK(b.target.by_key()["k2"] == std::vector<int>{2, 5});
  CHECK(b.box.stats().backlog == 0);
  CHECK(herald_test::metric_value(b.metrics, "herald_relay_parked_total", {{"relay", "relay"}}) ==
        0);
  // A refusal still spends attempts and parks.
  b.stage("k1", 6);
  b.target.s->failing_keys = {"k1"};
  for (int round = 0; round < 3; ++round) {
    b.clock.advance(10min);
    relay.run_once(b.clock.now());
  }
  CHECK(b.box.stats().parked == 1);
}

TEMPLATE_TEST_CASE(
    "outbox: while one destination is down, a batch of its messages does not hold back the "
    "others; a key waits behind its deferred head; no attempt is spent",
    "[outbox][conformance]", OUTBOX_STORES) {
  bench<TestType> b;
  const auto stage_to = [&](const std::string& destination, const std::string& key, int n) {
    auto tx = b.fixture.store.begin();
    b.fixture.write_business_row(tx, n);
    b.box.stage(tx, order_placed{key, n}, {.destination = destination, .key = key});
    tx.commit();
  };
  // More than a batch for the destination that is down, staged first.
  const std::vector<std::string> down_keys{"d1", "", "d1", "", "d2", ""};
  for (int i = 0; i < 6; ++i) stage_to("down", down_keys[static_cast<std::size_t>(i)], i);
  stage_to("orders", "d1", 6);  // behind d1's head, which waits for "down"
  for (int i = 7; i < 10; ++i) stage_to("orders", i % 2 ? "h" : "", i);
  b.target.s->unreachable_destinations = {"down"};
  auto options = b.relay_options();
  options.batch = 4;
  herald::relay relay(b.box, b.target, options);  // max_attempts 3

  // Within a few rounds, without waiting out any backoff, the healthy destination is done.
  for (int round = 0; round < 5; ++round) relay.run_once(b.clock.now());
  CHECK(b.target.numbers() == std::vector<int>{7, 8, 9});
  CHECK(b.box.stats().backlog == 7);

  b.target.s->unreachable_destinations.clear();
  for (int round = 0; round < 5; ++round) {
    b.clock.advance(10min);  // past the longest backoff
    drain(relay, b.clock.now());
  }
  CHECK(b.box.stats().backlog == 0);
  CHECK(b.box.parked().empty());
  CHECK(b.target.by_key()["d1"] == std::vector<int>{0, 2, 6});
  for (const auto& r : b.target.s->received) CHECK(r.attempts == 0);
  CHECK(herald_test::metric_value(b.metrics, "herald_relay_failed_total", {{"relay", "relay"}}) ==
        0);
  CHECK(herald_test::metric_value(b.metrics, "herald_relay_parked_total", {{"relay", "relay"}}) ==
        0);
  CHECK(b.failures.of(herald::failure_kind::dead_lettered).empty());
}

TEMPLATE_TEST_CASE("outbox: relays share the partitions and never both hold one",
                   "[outbox][conformance]", OUTBOX_STORES) {
  bench<TestType> b;
  herald::relay one(b.box, b.target, b.relay_options("one"));
  herald::relay two(b.box, b.target, b.relay_options("two"));
  for (int round = 0; round < 6; ++round) {  // shares settle as each relay sees the other
    one.run_once(b.clock.now());
    two.run_once(b.clock.now());
    b.clock.advance(1s);
  }
  std::set<std::uint32_t> first, second;
  for (const auto& l : one.held()) first.insert(l.partition);
  for (const auto& l : two.held()) second.insert(l.partition);
  CHECK(first.size() == 8);
  CHECK(second.size() == 8);
  for (auto p : first) CHECK(second.count(p) == 0);

  for (int i = 0; i < 40; ++i) b.stage("k" + std::to_string(i % 9), i);
  std::size_t sent = 0;
  for (int round = 0; round < 5; ++round) {
    sent += one.run_once(b.clock.now()) + two.run_once(b.clock.now());
  }
  CHECK(sent == 40);
  CHECK(b.target.s->received.size() == 40);  // each once
  for (const auto& [key, numbers] : b.target.by_key()) {
    CHECK(std::is_sorted(numbers.begin(), numbers.end()));
  }

  // One relay vanishes without a word: the other takes its keys once its leases end.
  b.stage("k1", 100);
  b.stage("k2", 101);
  b.clock.advance(11s);
  CHECK(drain(two, b.clock.now()) == 2);
  CHECK(two.held().size() == 16);
}

TEMPLATE_TEST_CASE("outbox: an oversized event is refused at stage time, saying why",
                   "[outbox][conformance]", OUTBOX_STORES) {
  bench<TestType> b;
  herald::outbox<decltype(b.fixture.store)> small(b.fixture.store,
                                                  {.max_message_bytes = 512, .clock = b.clock});
  auto tx = b.fixture.store.begin();
  try {
    small.stage(tx, order_placed{std::string(1000, 'x'), 1});
    FAIL("staged an oversized event");
  } catch (const herald::error& e) {
    CHECK(e.code() == herald::errc::limit_exceeded);
    CHECK_THAT(e.what(),
               Catch::Contains("max_message_bytes (512)") && Catch::Contains("test.order.placed"));
  }
  small.stage(tx, order_placed{"fits", 2});
  tx.commit();
  CHECK(small.stats().backlog == 1);
}

TEMPLATE_TEST_CASE("outbox: trace context is captured at stage time, not at relay time",
                   "[outbox][conformance]", OUTBOX_STORES) {
  bench<TestType> b;
  herald::bus bus;
  std::string handled_id, handled_correlation;
  auto sub = bus.subscribe<order_placed>([&](const herald::message<order_placed>& m) {
    handled_id = m.id;
    handled_correlation = m.correlationid;
    auto tx = b.fixture.store.begin();
    b.box.stage(tx, order_placed{"child", 2});
    tx.commit();
  });
  herald::message<order_placed> request(order_placed{"parent", 1});
  request.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  bus.publish(request);
  b.stage("other", 3);  // another request's message in the same relay batch
  herald::relay relay(b.box, b.target, b.relay_options());
  CHECK(drain(relay, b.clock.now()) == 2);
  std::map<std::string, herald::message<order_placed>> got;
  for (const auto& r : b.target.s->received) {
    auto m = herald::decode<order_placed>(r.body);
    got.emplace(m.data.key, m);
  }
  CHECK(got.at("child").traceparent == request.traceparent);
  CHECK(got.at("child").causationid == handled_id);
  CHECK(got.at("child").correlationid == handled_correlation);
  CHECK(got.at("other").traceparent.empty());
  CHECK(got.at("other").causationid.empty());
}

TEMPLATE_TEST_CASE("outbox: sent messages are kept for the retention window, then pruned",
                   "[outbox][conformance]", OUTBOX_STORES) {
  bench<TestType> b;
  b.stage("a", 1);
  auto o = b.relay_options();
  o.retention = 1h;
  herald::relay relay(b.box, b.target, o);
  CHECK(drain(relay, b.clock.now()) == 1);
  CHECK(b.box.stats().backlog == 0);
  CHECK(b.box.storage().prune_sent(b.clock.now() - 1min, 10) == 0);  // inside the window
  CHECK(b.box.storage().prune_sent(b.clock.now() + 1s, 10) == 1);
}

TEMPLATE_TEST_CASE("outbox: stats and metrics tell the backlog, its age and what is parked",
                   "[outbox][conformance]", OUTBOX_STORES) {
  bench<TestType> b;
  b.stage("a", 1);
  b.clock.advance(30s);
  b.stage("b", 2);
  auto s = b.box.stats();
  CHECK(s.backlog == 2);
  CHECK(s.oldest_age == 30s);
  b.target.s->down = true;
  herald::relay relay(b.box, b.target, b.relay_options());
  relay.run_once(b.clock.now());
  CHECK(herald_test::metric_value(b.metrics, "herald_outbox_backlog", {{"relay", "relay"}}) == 2);
  CHECK(herald_test::metric_value(b.metrics, "herald_outbox_oldest_age_seconds",
                                  {{"relay", "relay"}}) == 30);
  CHECK(herald_test::metric_value(b.metrics, "herald_relay_failed_total", {{"relay", "relay"}}) ==
        2);
}

TEMPLATE_TEST_CASE("inbox: a duplicate delivery is skipped and counted; a rollback claims nothing",
                   "[outbox][inbox][conformance]", OUTBOX_STORES) {
  bench<TestType> b;
  herald::inbox<decltype(b.fixture.store)> inbox(
      b.fixture.store, {.consumer = "billing", .clock = b.clock, .metrics = &b.metrics});
  herald::message<order_placed> m(order_placed{"a", 1});
  m.id = "message-1";
  int effects = 0;
  auto effect = [&](auto& tx, const herald::message<order_placed>& got) {
    b.fixture.write_business_row(tx, got.data.n);
    ++effects;
  };
  try {
    inbox.handle(m, [&](auto& tx, const auto& got) {
      effect(tx, got);
      throw std::runtime_error("handler failed");
    });
  } catch (const std::runtime_error&) {
  }
  CHECK(b.fixture.business_rows() == 0);  // rolled back with its claim
  CHECK(inbox.handle(m, effect));
  CHECK_FALSE(inbox.handle(m, effect));
  CHECK(effects == 2);  // the failed try and the one that committed
  CHECK(b.fixture.business_rows() == 1);
  CHECK(herald_test::metric_value(b.metrics, "herald_inbox_duplicates_total",
                                  {{"consumer", "billing"}}) == 1);
  // Another consumer has its own ids.
  herald::inbox<decltype(b.fixture.store)> other(b.fixture.store,
                                                 {.consumer = "shipping", .clock = b.clock});
  CHECK(other.handle(m, effect));
  // Ids are remembered for the retention window, then pruned.
  CHECK(inbox.remembered() == 1);
  b.clock.advance(13 * 24h);
  CHECK(inbox.prune() == 0);
  b.clock.advance(2 * 24h);
  CHECK(inbox.prune() == 2);  // both consumers' old ids
  CHECK(inbox.remembered() == 0);
}

TEMPLATE_TEST_CASE("inbox: two instances holding one duplicate at once run the handler once",
                   "[outbox][inbox][conformance]", OUTBOX_STORES) {
  bench<TestType> b;
  auto second_store = b.fixture.another_store();  // a second instance on the same data
  auto& other_store = herald_test::store_of(second_store, b.fixture.store);
  herald::inbox<decltype(b.fixture.store)> first(b.fixture.store, {.consumer = "c"});
  herald::inbox<decltype(b.fixture.store)> second(other_store, {.consumer = "c"});
  for (int round = 0; round < 20; ++round) {
    herald::message<order_placed> m(order_placed{"a", round});
    m.id = herald::new_id();
    std::atomic<int> runs{0};
    std::atomic<bool> go{false};
    auto deliver = [&](auto& inbox) {
      while (!go.load()) std::this_thread::yield();
      inbox.handle(m, [&](auto&, const auto&) {
        ++runs;
        std::this_thread::sleep_for(1ms);  // hold the claim while the other tries
      });
    };
    std::thread t1([&] { deliver(first); });
    std::thread t2([&] { deliver(second); });
    go = true;
    t1.join();
    t2.join();
    CHECK(runs.load() == 1);
  }
}

TEMPLATE_TEST_CASE("outbox: a relay to a topic over a transport; an inbox-guarded subscriber",
                   "[outbox][inbox][conformance]", OUTBOX_STORES) {
  bench<TestType> b;
  herald::inproc_transport transport;
  herald::topic<order_placed> orders(transport, "orders");
  herald::inbox<decltype(b.fixture.store)> inbox(b.fixture.store, {.consumer = "inventory"});
  std::vector<int> effects;
  auto sub = orders.subscribe(inbox.template handler<order_placed>(
      [&](auto&, const herald::message<order_placed>& m) { effects.push_back(m.data.n); }));
  for (int i = 0; i < 3; ++i) b.stage("k", i);
  std::vector<herald::outbox_record> relayed;
  auto publish = herald::to_transport(transport);
  herald::relay relay(
      b.box,
      [&](const herald::outbox_record& r) {
        relayed.push_back(r);
        return publish(r);
      },
      b.relay_options());
  CHECK(drain(relay, b.clock.now()) == 3);
  for (const auto& r : relayed) publish(r);  // as a relay killed before marking them sent would
  CHECK(effects == std::vector<int>{0, 1, 2});
  CHECK(inbox.remembered() == 3);
}

TEMPLATE_TEST_CASE("outbox: a relay to a queue keeps key order and answers a resend as a duplicate",
                   "[outbox][conformance]", OUTBOX_STORES) {
  bench<TestType> b;
  for (int i = 0; i < 4; ++i) b.stage(i % 2 ? "k1" : "k2", i);
  auto send = herald::to_queue(b.fixture.store, 5min, b.clock);
  std::vector<herald::outbox_record> relayed;
  herald::relay relay(
      b.box,
      [&](const herald::outbox_record& r) {
        relayed.push_back(r);
        return send(r);
      },
      b.relay_options());
  CHECK(drain(relay, b.clock.now()) == 4);
  CHECK(send(relayed.front()).duplicate);  // sent again, as after a crash: not queued twice
  auto& store = b.fixture.store;
  std::vector<int> order;
  for (;;) {  // the group of each key goes one at a time, in order
    auto leased = store.lease("orders", 10, b.clock.now(), 30s);
    if (leased.empty()) break;
    for (const auto& m : leased) {
      CHECK(m.group == herald::decode<order_placed>(m.body).data.key);
      order.push_back(herald::decode<order_placed>(m.body).data.n);
      CHECK(store.ack("orders", m));
    }
  }
  CHECK(order.size() == 4);
  std::vector<int> k1, k2;
  for (int n : order) (n % 2 ? k1 : k2).push_back(n);
  CHECK(k1 == std::vector<int>{1, 3});
  CHECK(k2 == std::vector<int>{0, 2});
}

TEMPLATE_TEST_CASE("inbox: an event the consumer cannot decode is dead-lettered with the reason",
                   "[outbox][inbox][conformance]", OUTBOX_STORES) {
  bench<TestType> b;
  herald::inproc_transport transport;
  herald::topic<order_placed> orders(transport, "orders", {.failures = &b.failures});
  herald::inbox<decltype(b.fixture.store)> inbox(b.fixture.store, {.consumer = "inventory"});
  int effects = 0;
  auto sub = orders.subscribe(inbox.template handler<order_placed>(
      [&](auto&, const herald::message<order_placed>&) { ++effects; }));
  herald::message<order_placed> wrong(order_placed{"k", 1});
  wrong.id = herald::new_id();
  wrong.source = "/test";
  wrong.type = "test.order.cancelled";  // a type this consumer does not know
  wrong.time = b.clock.now();
  transport.publish("orders", herald::wire_message{"orders", herald::encode(wrong)});
  CHECK(effects == 0);
  CHECK(inbox.remembered() == 0);  // never reached the inbox
  auto dead = b.failures.of(herald::failure_kind::dead_lettered);
  auto undecodable = b.failures.of(herald::failure_kind::decode_failed);
  REQUIRE(dead.size() + undecodable.size() >= 1);
  const auto& report = dead.empty() ? undecodable.front() : dead.front();
  CHECK_THAT(report.text, Catch::Contains("test.order.cancelled"));
  CHECK(report.payload.find(wrong.id) != std::string::npos);  // the bytes go with the report
}

TEMPLATE_TEST_CASE("outbox: a started relay publishes what commits later, and stops",
                   "[outbox][conformance]", OUTBOX_STORES) {
  bench<TestType> b;
  auto o = b.relay_options();
  o.poll_interval = 5ms;
  herald::relay relay(b.box, b.target, o);
  relay.start();
  CHECK(relay.health().state == herald::part_state::running);
  for (int i = 0; i < 5; ++i) b.stage("k", i);
  CHECK(b.target.wait_for(5));
  CHECK(b.target.numbers() == std::vector<int>{0, 1, 2, 3, 4});
  const auto report = relay.stop(10s);
  CHECK(report.in_time);
  CHECK(relay.health().state == herald::part_state::stopped);
  CHECK(b.box.stats().backlog == 0);
  // It gave its partitions back: another relay takes them at once, not after the lease.
  herald::relay next(b.box, b.target, b.relay_options("next"));
  b.stage("k", 5);
  CHECK(next.run_once(b.clock.now()) == 1);
}

TEMPLATE_TEST_CASE("outbox: a relay under a host reports to the host's sink and metrics",
                   "[outbox][conformance][host]", OUTBOX_STORES) {
  bench<TestType> b;
  herald_test::failure_recorder host_failures;
  herald::metrics_registry host_metrics;
  herald::host host({.failures = &host_failures, .metrics = &host_metrics});
  b.target.s->down = true;
  auto o = b.relay_options("hosted");
  o.failures = nullptr;  // the host's
  o.metrics = nullptr;
  o.poll_interval = 5ms;
  o.retry.base = 20ms;
  o.clock = herald::system_clock{};  // its retries wait in real time
  herald::relay relay(b.box, b.target, o);
  host.add(relay);
  for (int i = 0; i < 3; ++i) b.stage("k", i);
  host.start();
  REQUIRE(host_failures.wait_for_count(1));
  const auto first = host_failures.all().front();
  CHECK(first.part == "relay");
  CHECK_THAT(first.text, Catch::Contains("broker unreachable"));
  b.target.s->down = false;
  CHECK(b.target.wait_for(3));
  CHECK(b.target.numbers() == std::vector<int>{0, 1, 2});
  const auto report = host.stop(10s);
  CHECK(report.in_time);
  CHECK(host.health().front().state == herald::part_state::stopped);
  CHECK(herald_test::metric_value(host_metrics, "herald_relay_published_total",
                                  {{"relay", "hosted"}}) == 3);
  CHECK(herald_test::metric_value(b.metrics, "herald_relay_published_total",
                                  {{"relay", "hosted"}}) == -1);  // nothing beside the host's
}

TEMPLATE_TEST_CASE(
    "outbox: a destination, key or message id with a NUL or beyond herald::field_limits is "
    "refused at stage on every store, and nothing is staged",
    "[outbox][conformance][reliability]", OUTBOX_STORES) {
  namespace limits = herald::field_limits;
  bench<TestType> b;
  auto& storage = b.box.storage();
  const std::string nul("payments\0.refunds", 17);
  auto draft = [&](std::string destination, std::string key, std::string id = "id") {
    return herald::outbox_draft{std::move(id), std::move(destination), std::move(key), 0,
                                "{}",          b.clock.now()};
  };
  auto refused = [&](const herald::outbox_draft& bad, const std::string& field) {
    auto tx = b.fixture.store.begin();
    const std::vector<herald::outbox_draft> drafts = {draft("orders", "k"), bad};
    herald_test::check_invalid([&] { storage.stage(tx, drafts); }, field);
    tx.commit();
  };
  refused(draft(nul, "k"), "outbox destination");
  refused(draft("orders", std::string("k\0j", 3)), "outbox key");
  refused(draft("orders", "k", std::string("i\0d", 3)), "message id");
  refused(draft(std::string(limits::destination + 1, 'd'), "k"), "outbox destination");
  refused(draft("orders", std::string(limits::outbox_key + 1, 'k')), "outbox key");
  refused(draft("orders", "k", std::string(limits::message_id + 1, 'i')), "message id");
  CHECK(b.box.stats().backlog == 0);
  // At the limits, a stage is kept on every backend.
  {
    auto tx = b.fixture.store.begin();
    const std::vector<herald::outbox_draft> longest = {draft(std::string(limits::destination, 'd'),
                                                             std::string(limits::outbox_key, 'k'),
                                                             std::string(limits::message_id, 'i'))};
    storage.stage(tx, longest);
    tx.commit();
  }
  CHECK(b.box.stats().backlog == 1);
}

TEMPLATE_TEST_CASE(
    "inbox: an id or consumer with a NUL or beyond herald::field_limits is refused on every "
    "store, so distinct ids never collide, and nothing is claimed",
    "[outbox][inbox][conformance][reliability]", OUTBOX_STORES) {
  namespace limits = herald::field_limits;
  bench<TestType> b;
  using store_type = decltype(b.fixture.store);
  herald::inbox<store_type> inbox(b.fixture.store, {.consumer = "billing", .clock = b.clock});
  int effects = 0;
  auto effect = [&](auto&) { ++effects; };
  auto refused = [&](const std::string& id, const std::string& field) {
    auto tx = b.fixture.store.begin();
    herald_test::check_invalid([&] { inbox.handle(tx, id, effect); }, field);
    tx.commit();
  };
  {
    auto tx = b.fixture.store.begin();
    CHECK(inbox.handle(tx, "message-1", effect));
    tx.commit();
  }
  // "message-1\0b" is not "message-1": refused, never skipped as its duplicate.
  refused(std::string("message-1\0b", 11), "inbox message id");
  refused(std::string(limits::message_id + 1, 'i'), "inbox message id");
  CHECK(inbox.remembered() == 1);
  CHECK(effects == 1);
  {
    auto tx = b.fixture.store.begin();
    CHECK(inbox.handle(tx, std::string(limits::message_id, 'i'), effect));
    tx.commit();
  }
  CHECK(inbox.remembered() == 2);
  CHECK_THROWS_AS(herald::inbox<store_type>(
                      b.fixture.store, {.consumer = std::string(limits::inbox_consumer + 1, 'c')}),
                  herald::error);
  CHECK_THROWS_AS(herald::inbox<store_type>(b.fixture.store, {.consumer = std::string("a\0b", 3)}),
                  herald::error);
}

TEMPLATE_TEST_CASE(
    "outbox: a stage or an inbox claim on a thread other than the transaction's is refused and "
    "writes nothing",
    "[outbox][inbox][conformance][reliability]", OUTBOX_STORES) {
  bench<TestType> b;
  herald::inbox<decltype(b.fixture.store)> inbox(b.fixture.store, {.clock = b.clock});
  auto tx = b.fixture.store.begin();
  std::vector<std::string> refusals;
  std::thread other([&] {
    try {
      b.box.stage(tx, order_placed{"k", 1}, {.key = "k"});
    } catch (const herald::error& e) {
      if (e.code() == herald::errc::invalid_argument) refusals.push_back(e.what());
    }
    try {
      inbox.handle(tx, "message-1", [](auto&) {});
    } catch (const herald::error& e) {
      if (e.code() == herald::errc::invalid_argument) refusals.push_back(e.what());
    }
  });
  other.join();
  tx.commit();
  REQUIRE(refusals.size() == 2);
  for (const auto& r : refusals) CHECK_THAT(r, Catch::Contains("thread other than"));
  CHECK(b.box.stats().backlog == 0);
  CHECK(inbox.remembered() == 0);
}

TEMPLATE_TEST_CASE(
    "outbox: a process that disagrees on the partition count is refused, naming both",
    "[outbox][conformance]", OUTBOX_STORES) {
  bench<TestType> b;                              // its outbox has 16 partitions
  auto second_store = b.fixture.another_store();  // another process on the same data
  auto& other = herald_test::store_of(second_store, b.fixture.store);
  using store_type = std::remove_reference_t<decltype(other)>;
  try {
    herald::outbox<store_type> eight(other, {.partitions = 8});
    FAIL("an outbox of 8 partitions opened on a store whose outbox has 16");
  } catch (const herald::error& e) {
    CHECK(e.code() == herald::errc::invalid_argument);
    CHECK_THAT(e.what(),
               Catch::Contains("partitions") && Catch::Contains("8") && Catch::Contains("16"));
  }
  herald::outbox<store_type> same(other, {.partitions = 16, .clock = b.clock});  // agrees: opens
  b.stage("k", 1);
  herald::relay relay(same, b.target, b.relay_options());
  CHECK(drain(relay, b.clock.now()) == 1);
}
