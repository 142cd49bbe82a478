// SPDX-License-Identifier: MIT
// What a user of a topic compiles: a typed topic over the in-process transport.
#include <herald/topic/topic.hpp>
#include <herald/transport/inproc.hpp>

#include "order_placed.hpp"

int placed() {
  herald::inproc transport;
  herald::topic<order_placed> orders(transport, "shop.orders");
  int seen = 0;
  auto subscription = orders.subscribe([&](const order_placed&) { ++seen; });
  orders.publish(order_placed{7, "ada"});
  return seen;
}
