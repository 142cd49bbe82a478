// SPDX-License-Identifier: MIT
// The transactional outbox: placing an order writes the order row and its
// OrderPlaced event in one SQLite transaction; a relay publishes the events
// to a topic, where inventory and payment consume them behind inboxes. The
// first relay runs in a child process that dies (SIGKILL) midway, between
// publishing an event and marking it sent; a second relay finishes. Nothing
// is lost, and no stock is reserved or card charged twice.
#include <fmt/core.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <herald/outbox/inbox.hpp>
#include <herald/outbox/outbox.hpp>
#include <herald/outbox/relay.hpp>
#include <herald/sqlite/sqlite_outbox.hpp>
#include <herald/topic/topic.hpp>
#include <herald/transport/inproc.hpp>
#include <nlohmann/json.hpp>
#include <string>

struct order_placed {
  static constexpr std::string_view event_type = "shop.order.placed";
  int order = 0;
  std::string customer;
  int cents = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order_placed, order, customer, cents)

namespace {

constexpr int orders = 200;

void exec(sqlite3* db, const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string why = error ? error : "unknown error";
    sqlite3_free(error);
    throw std::runtime_error("sqlite: " + why);
  }
}

long long scalar(sqlite3* db, const char* sql) {
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, sql, -1, &s, nullptr);
  const long long v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
  sqlite3_finalize(s);
  return v;
}

// The shop's side: each order row and its event commit together.
void place_orders(const std::string& path) {
  herald::sqlite_store store(path);
  exec(store.connection(),
       "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, cents INTEGER);"
       "CREATE TABLE reserved (order_id INTEGER); CREATE TABLE charged (order_id INTEGER, "
       "cents INTEGER)");
  herald::outbox<herald::sqlite_store> outbox(store, {.destination = "orders"});
  for (int i = 1; i <= orders; ++i) {
    const std::string customer = "customer-" + std::to_string(i % 17);
    auto tx = store.begin();
    exec(tx.connection(),
         fmt::format("INSERT INTO orders VALUES ({}, '{}', {})", i, customer, 1000 + i));
    outbox.stage(tx, order_placed{i, customer, 1000 + i}, {.key = customer});
    tx.commit();
  }
  fmt::print("placed {} orders: each order row and its OrderPlaced in one transaction\n", orders);
}

// Relays the outbox to a topic with two inbox-guarded consumers; with
// `die_after`, the process kills itself once that many events were
// published (their effects committed) and before the relay marks them sent.
int relay_orders(const std::string& path, int die_after) {
  herald::sqlite_store store(path);
  herald::outbox<herald::sqlite_store> outbox(store);
  herald::inproc_transport transport;
  herald::topic<order_placed> topic(transport, "orders");
  herald::inbox<herald::sqlite_store> inventory(store, {.consumer = "inventory"});
  herald::inbox<herald::sqlite_store> payment(store, {.consumer = "payment"});
  auto reserve = topic.subscribe(
      inventory.handler<order_placed>([](auto& tx, const herald::message<order_placed>& m) {
        exec(tx.connection(), fmt::format("INSERT INTO reserved VALUES ({})", m.data.order));
      }));
  auto charge = topic.subscribe(
      payment.handler<order_placed>([](auto& tx, const herald::message<order_placed>& m) {
        exec(tx.connection(),
             fmt::format("INSERT INTO charged VALUES ({}, {})", m.data.order, m.data.cents));
      }));
  int published = 0;
  auto publish = herald::to_transport(transport);
  herald::relay relay(
      outbox,
      [&](const herald::outbox_record& r) {
        auto result = publish(r);
        if (++published == die_after) std::raise(SIGKILL);  // published, not marked sent
        return result;
      },
      {.name = "orders-relay", .batch = 25, .lease = std::chrono::milliseconds(200)});
  for (;;) {
    auto now = std::chrono::system_clock::now();
    if (relay.run_once(now) > 0) continue;
    if (outbox.stats().backlog == 0) break;
    ::usleep(20'000);  // the dead relay's partitions come free when its leases end
  }
  return published;
}

}  // namespace

int main() {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("order_outbox-" + std::to_string(::getpid()) + ".db"))
                               .string();
  place_orders(path);

  std::fflush(stdout);
  const pid_t child = ::fork();
  if (child == 0) {
    relay_orders(path, 120);
    std::_Exit(0);  // not reached: it dies at the 120th event
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  fmt::print("relay process {} {} after publishing 120 events\n", child,
             WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? "was killed (SIGKILL)"
                                                                : "ended unexpectedly");

  const int republished = relay_orders(path, 0);
  fmt::print(
      "a second relay published {} events: the {} left, and {} the dead one had published but "
      "not marked sent, which the inboxes skipped\n",
      republished, orders - 120, republished - (orders - 120));

  herald::sqlite_store store(path);
  sqlite3* db = store.connection();
  const long long reserved = scalar(db, "SELECT count(*) FROM reserved");
  const long long charged = scalar(db, "SELECT count(*) FROM charged");
  const long long distinct = scalar(db, "SELECT count(DISTINCT order_id) FROM charged");
  const long long cents = scalar(db, "SELECT sum(cents) FROM charged");
  const long long expected = scalar(db, "SELECT sum(cents) FROM orders");
  fmt::print("inventory reserved {} orders, payment charged {} ({} distinct), {} of {} cents\n",
             reserved, charged, distinct, cents, expected);
  const bool exact =
      reserved == orders && charged == orders && distinct == orders && cents == expected;
  fmt::print("lost: {}, done twice: {} -> {}\n", orders - distinct, charged - distinct,
             exact ? "every order handled exactly once" : "MISMATCH");
  for (const char* suffix : {"", "-wal", "-shm", "-reserve"}) {
    std::error_code ignored;
    std::filesystem::remove(path + suffix, ignored);
  }
  return exact ? 0 : 1;
}
