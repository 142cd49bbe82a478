// SPDX-License-Identifier: MIT
// What a user of the NATS transport compiles: a typed topic over JetStream.
#include <herald/nats/nats_transport.hpp>
#include <herald/topic/topic.hpp>

#include "order_placed.hpp"

std::uint64_t placed(const char* url) {
  herald::nats_options options;
  options.url = url;
  herald::nats_transport transport(options);
  herald::topic<order_placed, herald::nats_transport> orders(transport, "shop.orders");
  auto subscription = orders.subscribe([](const order_placed&) {});
  return orders.publish(order_placed{7, "ada"}).sequence;
}
