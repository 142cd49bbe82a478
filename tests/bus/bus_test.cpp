// SPDX-License-Identifier: MIT
#include <herald/bus/bus.hpp>
#include <herald/testing/manual_clock.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "catch.hpp"

namespace {

struct order_placed {
  static constexpr std::string_view event_type = "shop.order.placed";
  int order = 0;
};

struct payment_taken {
  static constexpr std::string_view event_type = "shop.payment.taken";
  int order = 0;
};

struct receipt_sent {
  static constexpr std::string_view event_type = "shop.receipt.sent";
  int order = 0;
};

using buses = std::tuple<herald::bus, herald::local_bus>;

}  // namespace

TEMPLATE_LIST_TEST_CASE("publish calls every subscriber of the type, in subscription order",
                        "[bus]", buses) {
  TestType bus;
  std::vector<std::string> calls;
  auto a = bus.template subscribe<order_placed>(
      [&](const order_placed& e) { calls.push_back("a" + std::to_string(e.order)); });
  auto b = bus.template subscribe<order_placed>([&](const herald::message<order_placed>& m) {
    calls.push_back("b" + std::to_string(m.data.order));
  });
  auto c = bus.template subscribe<order_placed>([&](const order_placed&) { calls.push_back("c"); });
  auto other =
      bus.template subscribe<payment_taken>([&](const payment_taken&) { calls.push_back("x"); });

  bus.publish(order_placed{7});
  CHECK(calls == std::vector<std::string>{"a7", "b7", "c"});
  CHECK(bus.template subscriber_count<order_placed>() == 3);
  CHECK(bus.template subscriber_count<receipt_sent>() == 0);
}

TEMPLATE_LIST_TEST_CASE("publishing a type nobody subscribed to does nothing", "[bus]", buses) {
  TestType bus;
  bus.publish(receipt_sent{1});
  bus.publish(herald::message<receipt_sent>(receipt_sent{1}));
  SUCCEED();
}

TEMPLATE_LIST_TEST_CASE("destroying or resetting a subscription unsubscribes", "[bus]", buses) {
  TestType bus;
  int a = 0, b = 0;
  auto first = bus.template subscribe<order_placed>([&](const order_placed&) { ++a; });
  {
    auto second = bus.template subscribe<order_placed>([&](const order_placed&) { ++b; });
    bus.publish(order_placed{});
    CHECK(second.active());
  }
  bus.publish(order_placed{});
  CHECK(a == 2);
  CHECK(b == 1);
  first.reset();
  CHECK_FALSE(first.active());
  bus.publish(order_placed{});
  CHECK(a == 2);
  first.reset();  // a second reset is harmless
  CHECK(bus.template subscriber_count<order_placed>() == 0);
}

TEMPLATE_LIST_TEST_CASE("a subscription moves, and the moved-from one owns nothing", "[bus]",
                        buses) {
  TestType bus;
  int calls = 0;
  herald::subscription kept;
  {
    auto original = bus.template subscribe<order_placed>([&](const order_placed&) { ++calls; });
    kept = std::move(original);
    CHECK_FALSE(original.active());  // NOLINT(bugprone-use-after-move): the point of the test
  }
  bus.publish(order_placed{});
  CHECK(calls == 1);
  herald::subscription other = std::move(kept);
  bus.publish(order_placed{});
  CHECK(calls == 2);
  other = herald::subscription{};  // assigning over it unsubscribes
  bus.publish(order_placed{});
  CHECK(calls == 2);
}

TEMPLATE_LIST_TEST_CASE("release keeps the handler for the bus's lifetime", "[bus]", buses) {
  TestType bus;
  int calls = 0;
  bus.template subscribe<order_placed>([&](const order_placed&) { ++calls; }).release();
  bus.publish(order_placed{});
  CHECK(calls == 1);
}

TEST_CASE("a subscription may outlive its bus", "[bus]") {
  herald::subscription survivor;
  {
    herald::bus bus;
    survivor = bus.subscribe<order_placed>([](const order_placed&) {});
    CHECK(survivor.active());
  }
  CHECK_FALSE(survivor.active());
  survivor.reset();  // must not touch the dead bus
}

TEMPLATE_LIST_TEST_CASE("the bus frees each handler's state when it is unsubscribed or destroyed",
                        "[bus]", buses) {
  auto token = std::make_shared<int>(0);
  {
    TestType bus;
    auto s = bus.template subscribe<order_placed>([token](const order_placed&) {});
    auto t = bus.template subscribe<order_placed>([token](const order_placed&) {});
    CHECK(token.use_count() == 3);
    s.reset();
    CHECK(token.use_count() == 2);
    t.release();
  }
  CHECK(token.use_count() == 1);
}

TEMPLATE_LIST_TEST_CASE("a throwing handler does not stop the others", "[bus]", buses) {
  std::vector<std::string> failures;
  herald::bus_options options;
  options.on_error = [&](const herald::handler_failure& f) {
    failures.push_back(std::string(f.event_type) + ": " + f.what() + " in " + f.message.id);
  };
  TestType bus(options);
  int after = 0;
  auto a = bus.template subscribe<order_placed>(
      [](const order_placed&) { throw std::runtime_error("inventory is down"); });
  auto b = bus.template subscribe<order_placed>([](const order_placed&) { throw 42; });
  auto c = bus.template subscribe<order_placed>([&](const order_placed&) { ++after; });
  REQUIRE_NOTHROW(bus.publish(order_placed{1}));
  CHECK(after == 1);
  REQUIRE(failures.size() == 2);
  CHECK_THAT(failures[0], herald_test::starts_with("shop.order.placed: inventory is down in "));
  CHECK_THAT(failures[1], herald_test::contains("not derived from std::exception"));
  // Both failures name the same message: its attributes were made once.
  CHECK(failures[0].substr(failures[0].size() - 36) == failures[1].substr(failures[1].size() - 36));
}

TEMPLATE_LIST_TEST_CASE("an error handler that rethrows stops the publish (fail fast)", "[bus]",
                        buses) {
  herald::bus_options options;
  options.on_error = [](const herald::handler_failure& f) { std::rethrow_exception(f.error); };
  TestType bus(options);
  int after = 0;
  auto a = bus.template subscribe<order_placed>(
      [](const order_placed&) { throw std::runtime_error("stop"); });
  auto b = bus.template subscribe<order_placed>([&](const order_placed&) { ++after; });
  CHECK_THROWS_WITH(bus.publish(order_placed{}), "stop");
  CHECK(after == 0);
  // The bus is still usable afterwards.
  b.reset();
  a.reset();
  auto c = bus.template subscribe<order_placed>([&](const order_placed&) { ++after; });
  bus.publish(order_placed{});
  CHECK(after == 1);
}

TEMPLATE_LIST_TEST_CASE("the default error handler reports and goes on", "[bus]", buses) {
  TestType bus;
  int after = 0;
  auto a = bus.template subscribe<order_placed>(
      [](const order_placed&) { throw std::runtime_error("expected by the test"); });
  auto b = bus.template subscribe<order_placed>([&](const order_placed&) { ++after; });
  bus.publish(order_placed{});
  CHECK(after == 1);
}

TEMPLATE_LIST_TEST_CASE("subscribing from inside a handler takes effect from the next publish",
                        "[bus][reentrancy]", buses) {
  TestType bus;
  std::vector<herald::subscription> added;
  int late_calls = 0;
  auto adder = bus.template subscribe<order_placed>([&](const order_placed&) {
    added.push_back(
        bus.template subscribe<order_placed>([&](const order_placed&) { ++late_calls; }));
  });
  bus.publish(order_placed{});
  CHECK(late_calls == 0);
  CHECK(added.size() == 1);
  bus.publish(order_placed{});
  CHECK(late_calls == 1);  // the first added handler; the second was added during this publish
  CHECK(added.size() == 2);
}

TEMPLATE_LIST_TEST_CASE("unsubscribing from inside a handler takes effect from the next publish",
                        "[bus][reentrancy]", buses) {
  TestType bus;
  int self_calls = 0, later_calls = 0;
  herald::subscription self, later;
  self = bus.template subscribe<order_placed>([&](const order_placed&) {
    ++self_calls;
    self.reset();   // a handler removing itself
    later.reset();  // and one that has not run yet in this publish
  });
  later = bus.template subscribe<order_placed>([&](const order_placed&) { ++later_calls; });
  bus.publish(order_placed{});
  CHECK(self_calls == 1);
  CHECK(later_calls == 1);  // it was subscribed when this publish started
  bus.publish(order_placed{});
  CHECK(self_calls == 1);
  CHECK(later_calls == 1);
  CHECK(bus.template subscriber_count<order_placed>() == 0);
}

TEMPLATE_LIST_TEST_CASE("a handler's state stays alive until the publish that removed it ends",
                        "[bus][reentrancy]", buses) {
  TestType bus;
  auto state = std::make_shared<int>(0);
  std::weak_ptr<int> watch = state;
  herald::subscription s;
  bool alive_during_publish = false;
  s = bus.template subscribe<order_placed>(
      [state = std::move(state), &s, &watch, &alive_during_publish](const order_placed&) {
        s.reset();
        alive_during_publish = !watch.expired() && *state == 0;
      });
  bus.publish(order_placed{});
  CHECK(alive_during_publish);
  CHECK(watch.expired());
}

TEMPLATE_LIST_TEST_CASE("publishing from a handler carries correlation and causation",
                        "[bus][causation]", buses) {
  TestType bus;
  herald::message<order_placed> seen_order;
  herald::message<payment_taken> seen_payment;
  herald::message<receipt_sent> seen_receipt;
  auto a = bus.template subscribe<order_placed>([&](const herald::message<order_placed>& m) {
    seen_order = m;
    bus.publish(payment_taken{m.data.order});
  });
  auto b = bus.template subscribe<payment_taken>([&](const payment_taken& p) {
    bus.publish(herald::message<receipt_sent>(receipt_sent{p.order}));
  });
  auto b2 = bus.template subscribe<payment_taken>(
      [&](const herald::message<payment_taken>& m) { seen_payment = m; });
  auto c = bus.template subscribe<receipt_sent>(
      [&](const herald::message<receipt_sent>& m) { seen_receipt = m; });

  bus.publish(order_placed{5});

  CHECK(seen_order.id.size() == 36);
  CHECK(seen_order.correlationid == seen_order.id);  // a root is its own conversation
  CHECK(seen_order.causationid.empty());
  CHECK(seen_order.source == "/herald/bus");
  CHECK(seen_order.type == "shop.order.placed");
  CHECK(seen_order.time.has_value());

  CHECK(seen_payment.correlationid == seen_order.id);
  CHECK(seen_payment.causationid == seen_order.id);
  CHECK(seen_payment.id != seen_order.id);

  CHECK(seen_receipt.correlationid == seen_order.id);
  CHECK(seen_receipt.causationid == seen_payment.id);
  CHECK(seen_receipt.data.order == 5);
}

TEMPLATE_LIST_TEST_CASE("attributes set by the publisher are kept", "[bus][causation]", buses) {
  TestType bus;
  herald::message<order_placed> seen;
  auto a = bus.template subscribe<order_placed>(
      [&](const herald::message<order_placed>& m) { seen = m; });
  herald::message<order_placed> m(order_placed{1});
  m.id = "my-id";
  m.correlationid = "conversation-9";
  m.source = "/checkout";
  m.subject = "order-1";
  m.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  bus.publish(m);
  CHECK(seen.id == "my-id");
  CHECK(seen.correlationid == "conversation-9");
  CHECK(seen.source == "/checkout");
  CHECK(seen.subject == "order-1");
  CHECK(seen.traceparent == m.traceparent);
}

TEMPLATE_LIST_TEST_CASE("message times come from the bus's clock", "[bus][clock]", buses) {
  herald::manual_clock clock;
  herald::bus_options options;
  options.clock = clock;
  TestType bus(options);
  std::vector<herald::time_point> times;
  auto a = bus.template subscribe<order_placed>(
      [&](const herald::message<order_placed>& m) { times.push_back(*m.time); });
  bus.publish(order_placed{1});
  clock.advance(std::chrono::hours(24));
  bus.publish(herald::message<order_placed>(order_placed{2}));
  REQUIRE(times.size() == 2);
  CHECK(times[1] - times[0] == std::chrono::hours(24));
  CHECK(times[0] == clock.now() - std::chrono::hours(24));
}

TEMPLATE_LIST_TEST_CASE("after a publish, new publishes start new conversations",
                        "[bus][causation]", buses) {
  TestType bus;
  std::vector<herald::message<order_placed>> seen;
  auto a = bus.template subscribe<order_placed>(
      [&](const herald::message<order_placed>& m) { seen.push_back(m); });
  bus.publish(order_placed{1});
  bus.publish(order_placed{2});
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].causationid.empty());
  CHECK(seen[1].correlationid == seen[1].id);
  CHECK(seen[0].id != seen[1].id);
}

TEMPLATE_LIST_TEST_CASE("a filter chooses which events reach the handler", "[bus][filter]", buses) {
  TestType bus;
  std::vector<int> big, from_checkout;
  auto a =
      bus.template subscribe<order_placed>([](const order_placed& e) { return e.order > 10; },
                                           [&](const order_placed& e) { big.push_back(e.order); });
  auto b = bus.template subscribe<order_placed>(
      [](const herald::message<order_placed>& m) { return m.source == "/checkout"; },
      [&](const order_placed& e) { from_checkout.push_back(e.order); });
  bus.publish(order_placed{5});
  bus.publish(order_placed{50});
  herald::message<order_placed> m(order_placed{7});
  m.source = "/checkout";
  bus.publish(m);
  CHECK(big == std::vector<int>{50});
  CHECK(from_checkout == std::vector<int>{7});
}

TEST_CASE("publish_async without an executor says how to give it one", "[bus]") {
  herald::bus bus;
  CHECK_THROWS_WITH(bus.publish_async(order_placed{}), herald_test::contains("async_executor"));
}

TEMPLATE_LIST_TEST_CASE(
    "a handler that publishes what triggers it again is stopped at the "
    "publish depth limit and reported, instead of overflowing the stack",
    "[bus][reliability]", buses) {
  int calls = 0;
  std::vector<std::string> errors;
  herald::bus_options options;
  options.on_error = [&](const herald::handler_failure& f) { errors.push_back(f.what()); };
  TestType bus(options);
  SECTION("plain events") {
    auto s = bus.template subscribe<order_placed>([&](const order_placed& e) {
      ++calls;
      bus.publish(order_placed{e.order + 1});
    });
    bus.publish(order_placed{0});
    bus.publish(order_placed{0});  // the depth unwound: the next publish goes as deep
  }
  SECTION("messages") {
    auto s = bus.template subscribe<order_placed>([&](const herald::message<order_placed>& m) {
      ++calls;
      bus.publish(herald::message<order_placed>(order_placed{m.data.order + 1}));
    });
    bus.publish(order_placed{0});
    bus.publish(order_placed{0});
  }
  CHECK(calls == 2 * static_cast<int>(herald::detail::max_publish_depth));
  REQUIRE(errors.size() == 2);
  CHECK_THAT(errors[0], herald_test::contains("nested 128 deep"));
}
