// SPDX-License-Identifier: MIT
// What a user of a durable queue compiles: a queue and a worker on SQLite.
#include <herald/queue/worker.hpp>
#include <herald/sqlite/sqlite_store.hpp>

#include "order_placed.hpp"

std::size_t placed() {
  herald::sqlite_store store("orders.db");
  herald::queue<order_placed, herald::sqlite_store> orders(store, "orders");
  orders.send(order_placed{7, "ada"});
  herald::worker worker(orders, [](const order_placed&) {});
  return worker.run_once(herald::system_clock{}.now());
}
