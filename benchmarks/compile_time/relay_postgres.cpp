// SPDX-License-Identifier: MIT
// What a user of the outbox compiles: staging on PostgreSQL and a relay.
#include <herald/outbox/outbox.hpp>
#include <herald/outbox/relay.hpp>
#include <herald/postgres/postgres_outbox.hpp>

#include "order_placed.hpp"

std::size_t placed(const char* url) {
  herald::postgres_store store(url);
  herald::outbox<herald::postgres_store> outbox(store, {.destination = "orders"});
  {
    auto tx = store.begin();
    outbox.stage(tx, order_placed{7, "ada"}, {.key = "ada"});
    tx.commit();
  }
  herald::relay relay(outbox, [](const herald::outbox_record&) {});
  return relay.run_once(herald::system_clock{}.now());
}
