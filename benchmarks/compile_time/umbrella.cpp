// SPDX-License-Identifier: MIT
// What a user of the umbrella header compiles: the bus, a topic and a queue in memory.
#include <herald/herald.hpp>

#include "order_placed.hpp"

int placed() {
  herald::bus bus;
  int seen = 0;
  auto on_bus = bus.subscribe<order_placed>([&](const order_placed&) { ++seen; });
  bus.publish(order_placed{7, "ada"});
  herald::inproc transport;
  herald::topic<order_placed> orders(transport, "shop.orders");
  orders.publish(order_placed{8, "bob"});
  herald::memory_store store;
  herald::queue<order_placed, herald::memory_store> queue(store, "orders");
  queue.send(order_placed{9, "eve"});
  return seen;
}
