// SPDX-License-Identifier: MIT
// A user of the SQLite backend: find_package(herald COMPONENTS sqlite) and
// herald::sqlite give the store and its client library.
#include <fmt/core.h>

#include <herald/queue/queue.hpp>
#include <herald/sqlite/sqlite_store.hpp>
#include <nlohmann/json.hpp>

struct order_placed {
  static constexpr std::string_view event_type = "shop.order.placed";
  int id = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order_placed, id)

int main() {
  herald::sqlite_store store(":memory:");
  herald::queue<order_placed, herald::sqlite_store> orders(store, "orders");
  orders.send(order_placed{7});
  fmt::print("consumer queued {} message(s) in SQLite\n", orders.stats().depth);
}
