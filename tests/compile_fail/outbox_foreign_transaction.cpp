// SPDX-License-Identifier: MIT
// Staging in a transaction of another kind of store: the event would not
// commit with the rows written in it.
#include <herald/outbox/outbox.hpp>
#include <herald/store/memory_outbox.hpp>
#include <nlohmann/json.hpp>

struct order_placed {
  static constexpr std::string_view event_type = "test.order.placed";
  int n = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order_placed, n)

struct other_transaction {
  void commit() {}
};

void misuse(herald::memory_store& store) {
  herald::outbox<herald::memory_store> box(store);
  other_transaction tx;
  box.stage(tx, order_placed{});
}
