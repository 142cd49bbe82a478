// SPDX-License-Identifier: MIT
// A user of the PostgreSQL backend: find_package(herald COMPONENTS postgres)
// and herald::postgres give the store and libpq. With a server named in
// HERALD_TEST_POSTGRES it queues one message there, in a schema of its own.
#include <fmt/core.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <cstdlib>
#include <herald/postgres/postgres_store.hpp>
#include <herald/queue/queue.hpp>
#include <nlohmann/json.hpp>
#include <string>

struct order_placed {
  static constexpr std::string_view event_type = "shop.order.placed";
  int id = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order_placed, id)

int main() {
  const char* url = std::getenv("HERALD_TEST_POSTGRES");
  if (!url || !*url) {
    fmt::print("consumer linked herald::postgres (no server named in HERALD_TEST_POSTGRES)\n");
    return 0;
  }
  herald::postgres_options options;
  options.schema = "herald_consumer_" + std::to_string(::getpid());
  std::size_t depth = 0;
  {
    herald::postgres_store store(url, options);
    herald::queue<order_placed, herald::postgres_store> orders(store, "orders");
    orders.send(order_placed{7});
    depth = orders.stats().depth;
  }
  PGconn* c = PQconnectdb(url);
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);
  PQclear(PQexec(c, ("DROP SCHEMA " + options.schema + " CASCADE").c_str()));
  PQfinish(c);
  fmt::print("consumer queued {} message(s) in PostgreSQL\n", depth);
}
