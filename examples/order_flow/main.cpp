// SPDX-License-Identifier: MIT
// An order placed in a shop fans out to inventory, payment and notification.
// The payment handler fails; the others run anyway. Every line of the trace
// shows which message caused which, through correlation and causation ids.

#include <fmt/core.h>

#include <herald/bus/bus.hpp>
#include <stdexcept>
#include <string>

namespace shop {

struct order_placed {
  static constexpr std::string_view event_type = "shop.order.placed";
  std::string order_id;
  std::string customer;
  double total = 0;
};

struct stock_reserved {
  static constexpr std::string_view event_type = "shop.stock.reserved";
  std::string order_id;
  int items = 0;
};

struct customer_notified {
  static constexpr std::string_view event_type = "shop.customer.notified";
  std::string order_id;
  std::string channel;
};

}  // namespace shop

namespace {

// The last 6 hex digits of a UUIDv7 are random: short, and enough to tell
// messages apart in a trace.
std::string short_id(const std::string& id) { return id.empty() ? "-" : id.substr(id.size() - 6); }

template <class T>
void trace(std::string_view who, const herald::message<T>& m) {
  fmt::print("  {:<13} {:<24} id {}  correlation {}  caused by {}\n", who, m.type, short_id(m.id),
             short_id(m.correlationid), short_id(m.causationid));
}

}  // namespace

int main() {
  herald::bus_options options;
  options.source = "/shop/checkout";
  options.on_error = [](const herald::handler_failure& failure) {
    fmt::print("  ! {} handler failed for message {}: {} (the other handlers still ran)\n",
               failure.event_type, short_id(failure.message.id), failure.what());
  };
  herald::bus bus(options);

  auto inventory =
      bus.subscribe<shop::order_placed>([&](const herald::message<shop::order_placed>& m) {
        trace("inventory", m);
        bus.publish(shop::stock_reserved{m.data.order_id, 3});
      });
  auto payment =
      bus.subscribe<shop::order_placed>([](const herald::message<shop::order_placed>& m) {
        trace("payment", m);
        throw std::runtime_error("payment failed: card declined for " + m.data.customer);
      });
  auto notification =
      bus.subscribe<shop::order_placed>([&](const herald::message<shop::order_placed>& m) {
        trace("notification", m);
        bus.publish(shop::customer_notified{m.data.order_id, "email"});
      });
  auto warehouse =
      bus.subscribe<shop::stock_reserved>([](const herald::message<shop::stock_reserved>& m) {
        trace("warehouse", m);
        fmt::print("                reserved {} items for order {}\n", m.data.items,
                   m.data.order_id);
      });
  auto audit =
      bus.subscribe<shop::customer_notified>([](const herald::message<shop::customer_notified>& m) {
        trace("audit", m);
        fmt::print("                notification for order {} sent by {}\n", m.data.order_id,
                   m.data.channel);
      });

  fmt::print("order 1042 placed by ada@example.com:\n");
  bus.publish(shop::order_placed{"1042", "ada@example.com", 99.90});
  fmt::print(
      "\nEvery message above shares one correlation id (the order's own id);\n"
      "'caused by' names the message whose handler published it.\n");
  return 0;
}
