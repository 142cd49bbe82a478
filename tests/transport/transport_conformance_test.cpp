// SPDX-License-Identifier: MIT
// What every transport guarantees, run over each one: in-process, and NATS
// JetStream against a real server. Deliveries are waited for with a
// generous deadline (a broker delivers on its own threads), never slept for.
#include <atomic>
#include <herald/topic/topic.hpp>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "catch.hpp"
#include "support/home_events.hpp"
#include "support/transport_fixtures.hpp"

using namespace herald_test;

namespace {

herald::subscribe_options group(std::string name) {
  herald::subscribe_options o;
  o.group = std::move(name);
  return o;
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("transport: every fan-out subscriber gets every message, in publish order",
                        "[transport][conformance]", transport_backends) {
  STATIC_REQUIRE(herald::transport<decltype(TestType{}.transport)>);
  TestType b;
  const auto subject = b.subject("orders");
  collector first, second;
  auto s1 =
      b.transport.subscribe(subject, {}, [&](const herald::wire_message& m) { first.add(m); });
  auto s2 =
      b.transport.subscribe(subject, {}, [&](const herald::wire_message& m) { second.add(m); });
  std::vector<std::string> sent;
  for (int i = 0; i < 50; ++i) {
    sent.push_back("m" + std::to_string(i));
    const auto r = b.transport.publish(subject, bytes(sent.back()));
    CHECK(r.sequence > 0);
    CHECK_FALSE(r.duplicate);
  }
  REQUIRE(first.wait_for(50));
  REQUIRE(second.wait_for(50));
  CHECK(first.messages() == sent);
  CHECK(second.messages() == sent);
  CHECK(first.attempts() == std::vector<std::uint32_t>(50, 1));
}

TEMPLATE_LIST_TEST_CASE("transport: a group's members share its messages, each handled once",
                        "[transport][conformance]", transport_backends) {
  TestType b;
  const auto subject = b.subject("jobs");
  collector one, two, audit;
  auto m1 = b.transport.subscribe(subject, group("workers"),
                                  [&](const herald::wire_message& m) { one.add(m); });
  auto m2 = b.transport.subscribe(subject, group("workers"),
                                  [&](const herald::wire_message& m) { two.add(m); });
  auto fan =
      b.transport.subscribe(subject, {}, [&](const herald::wire_message& m) { audit.add(m); });
  for (int i = 0; i < 100; ++i) b.transport.publish(subject, bytes(std::to_string(i)));
  REQUIRE(audit.wait_for(100));
  // Both members together: each message once (no failures, so no redelivery).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (one.size() + two.size() < 100 && std::chrono::steady_clock::now() < deadline) {
    one.wait_for(one.size() + 1, std::chrono::seconds(1));
  }
  std::multiset<std::string> handled;
  for (auto& m : one.messages()) handled.insert(m);
  for (auto& m : two.messages()) handled.insert(m);
  CHECK(handled.size() == 100);
  for (int i = 0; i < 100; ++i) CHECK(handled.count(std::to_string(i)) == 1);
}

TEMPLATE_LIST_TEST_CASE(
    "transport: a handler that throws has not acknowledged, and the message comes again",
    "[transport][conformance]", transport_backends) {
  TestType b;
  const auto subject = b.subject("flaky");
  collector seen;
  std::atomic<int> calls{0};
  auto s = b.transport.subscribe(subject, {}, [&](const herald::wire_message& m) {
    seen.add(m);
    if (++calls == 1) throw std::runtime_error("not yet");
  });
  b.transport.publish(subject, bytes("once"));
  REQUIRE(seen.wait_for(2));
  CHECK(seen.attempts() == std::vector<std::uint32_t>{1, 2});  // the count reaches the handler
  CHECK(seen.messages() == std::vector<std::string>{"once", "once"});
}

TEMPLATE_LIST_TEST_CASE("transport: after the last attempt a failing message is reported, not lost",
                        "[transport][conformance]", transport_backends) {
  TestType b;
  const auto subject = b.subject("poison");
  collector seen;
  auto s = b.transport.subscribe(subject, {}, [&](const herald::wire_message& m) {
    seen.add(m);
    throw std::runtime_error("cannot handle this one");
  });
  b.transport.publish(subject, bytes("poison"));
  REQUIRE(seen.wait_for(3));
  REQUIRE(b.failures.wait_for_count(1));
  // The last word on it names the reason and the attempts.
  bool reported = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!reported && std::chrono::steady_clock::now() < deadline) {
    for (const auto& f : b.failures.all()) {
      const bool last =
          f.attempt == 3 && f.text.find("cannot handle this one") != std::string::npos;
      reported = reported || (last && f.payload == "poison" &&
                              (f.kind == herald::failure_kind::dead_lettered ||
                               f.kind == herald::failure_kind::handler_threw));
    }
    if (!reported) b.failures.wait_for_count(b.failures.all().size() + 1, std::chrono::seconds(1));
  }
  CHECK(reported);
  CHECK(seen.attempts() == std::vector<std::uint32_t>{1, 2, 3});
}

TEMPLATE_LIST_TEST_CASE("transport: an unsubscribed handler receives nothing published after",
                        "[transport][conformance]", transport_backends) {
  TestType b;
  const auto subject = b.subject("leaving");
  collector gone, stays;
  auto leaving =
      b.transport.subscribe(subject, {}, [&](const herald::wire_message& m) { gone.add(m); });
  auto staying =
      b.transport.subscribe(subject, {}, [&](const herald::wire_message& m) { stays.add(m); });
  b.transport.publish(subject, bytes("before"));
  REQUIRE(gone.wait_for(1));
  REQUIRE(stays.wait_for(1));
  leaving.reset();
  CHECK_FALSE(leaving.active());
  b.transport.publish(subject, bytes("after"));
  REQUIRE(stays.wait_for(2));
  CHECK(gone.messages() == std::vector<std::string>{"before"});
}

TEMPLATE_LIST_TEST_CASE("transport: a handler may end its own subscription",
                        "[transport][conformance]", transport_backends) {
  TestType b;
  const auto subject = b.subject("self");
  collector seen, witness;
  herald::subscription own;
  own = b.transport.subscribe(subject, {}, [&](const herald::wire_message& m) {
    seen.add(m);
    own.reset();
  });
  auto w =
      b.transport.subscribe(subject, {}, [&](const herald::wire_message& m) { witness.add(m); });
  b.transport.publish(subject, bytes("1"));
  b.transport.publish(subject, bytes("2"));
  REQUIRE(witness.wait_for(2));
  REQUIRE(seen.wait_for(1));
  CHECK(seen.messages() == std::vector<std::string>{"1"});
}

TEMPLATE_LIST_TEST_CASE(
    "transport: a topic carries typed events; one that does not decode is reported and "
    "acknowledged",
    "[transport][conformance]", transport_backends) {
  TestType b;
  const auto subject = b.subject("readings");
  failure_recorder topic_failures;
  herald::topic_options options;
  options.failures = &topic_failures;
  herald::topic<home::temperature, decltype(b.transport)> readings(b.transport, subject, options);
  std::mutex mutex;
  std::vector<std::string> rooms;
  collector done;
  auto s = readings.subscribe([&](const herald::message<home::temperature>& m) {
    std::lock_guard lock(mutex);
    rooms.push_back(m.data.room);
    herald::wire_message w;
    w.data = m.id;
    done.add(w);
  });
  b.transport.publish(subject, bytes("not json at all"));
  const auto r = readings.publish(home::temperature{"kitchen", 21.5});
  CHECK(r.sequence > 0);
  REQUIRE(done.wait_for(1));
  REQUIRE(topic_failures.wait_for_count(1));
  CHECK(rooms == std::vector<std::string>{"kitchen"});
  CHECK(readings.dead_lettered() == 1);
  const auto f = topic_failures.all().at(0);
  CHECK(f.kind == herald::failure_kind::dead_lettered);
  CHECK(f.code == herald::errc::decode_failed);
  CHECK(f.payload == "not json at all");
  CHECK(f.attempt == 1);  // acknowledged at once: never delivered again
}

TEMPLATE_LIST_TEST_CASE("transport: a topic's batch arrives entire and in order",
                        "[transport][conformance]", transport_backends) {
  TestType b;
  const auto subject = b.subject("batch");
  herald::topic<home::temperature, decltype(b.transport)> readings(b.transport, subject);
  std::mutex mutex;
  std::vector<double> got;
  collector done;
  auto s = readings.subscribe([&](const herald::message<home::temperature>& m) {
    {
      std::lock_guard lock(mutex);
      got.push_back(m.data.celsius);
    }
    done.add(herald::wire_message{});
  });
  std::vector<home::temperature> batch;
  for (int i = 0; i < 300; ++i) batch.push_back({"hall", static_cast<double>(i)});
  const auto results = readings.publish_batch(batch);
  REQUIRE(results.size() == 300);
  for (std::size_t i = 1; i < results.size(); ++i) {
    CHECK(results[i].sequence == results[i - 1].sequence + 1);
  }
  REQUIRE(done.wait_for(300));
  std::lock_guard lock(mutex);
  for (int i = 0; i < 300; ++i) CHECK(got[static_cast<std::size_t>(i)] == i);
}
