// SPDX-License-Identifier: MIT
// The transactional outbox: placing an order writes the order row and its
// OrderPlaced event in one SQLite transaction; a relay publishes the events
// to a topic, where inventory and payment consume them behind inboxes. The
// first relay runs in a child process that dies (SIGKILL) midway, between
// publishing an event and marking it sent; a second relay finishes. Nothing
// is lost, and no stock is reserved or card charged twice. It runs on
// SQLite; with HERALD_POSTGRES=<url> (and herald::postgres built), on PostgreSQL.
#include <fmt/core.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <herald/outbox/inbox.hpp>
#include <herald/outbox/outbox.hpp>
#include <herald/outbox/relay.hpp>
#include <herald/sqlite/sqlite_outbox.hpp>
#include <memory>
#if HERALD_EXAMPLE_POSTGRES
#include <herald/postgres/postgres_outbox.hpp>
#endif
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

// The embedded default: one SQLite file.
struct sqlite_backend {
  using store = herald::sqlite_store;
  std::string path = (std::filesystem::temp_directory_path() /
                      ("order_outbox-" + std::to_string(::getpid()) + ".db"))
                         .string();

  [[nodiscard]] std::unique_ptr<store> open() const { return std::make_unique<store>(path); }
  [[nodiscard]] std::string table(const char* name) const { return name; }
  static void exec(store::transaction& tx, const std::string& sql) {
    char* error = nullptr;
    if (sqlite3_exec(tx.connection(), sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
      const std::string why = error ? error : "unknown error";
      sqlite3_free(error);
      throw std::runtime_error("sqlite: " + why);
    }
  }
  static long long scalar(store::transaction& tx, const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(tx.connection(), sql.c_str(), -1, &s, nullptr);
    const long long v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
  }
  void clean_up() const {
    for (const char* suffix : {"", "-wal", "-shm", "-reserve"}) {
      std::error_code ignored;
      std::filesystem::remove(path + suffix, ignored);
    }
  }
};

#if HERALD_EXAMPLE_POSTGRES
// HERALD_POSTGRES=<url>: a schema of its own on that server, dropped at the end.
struct postgres_backend {
  using store = herald::postgres_store;
  std::string url;
  std::string schema = "order_outbox_" + std::to_string(::getpid());

  [[nodiscard]] std::unique_ptr<store> open() const {
    return std::make_unique<store>(url, herald::postgres_options{.schema = schema});
  }
  [[nodiscard]] std::string table(const char* name) const { return schema + "." + name; }
  static void exec(store::transaction& tx, const std::string& sql) {
    PGresult* r = PQexec(tx.connection(), sql.c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    const std::string why = ok ? "" : PQresultErrorMessage(r);
    PQclear(r);
    if (!ok) throw std::runtime_error("postgres: " + why);
  }
  static long long scalar(store::transaction& tx, const std::string& sql) {
    PGresult* r = PQexec(tx.connection(), sql.c_str());
    const long long v = PQntuples(r) == 1 ? std::atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return v;
  }
  void clean_up() const {
    auto s = open();
    auto tx = s->begin();
    exec(tx, "DROP SCHEMA " + schema + " CASCADE");
    tx.commit();
  }
};
#endif

// The shop's side: each order row and its event commit together.
template <class Backend>
void place_orders(const Backend& db) {
  auto store = db.open();
  {
    auto tx = store->begin();
    Backend::exec(tx, "CREATE TABLE " + db.table("orders") +
                          " (id INTEGER PRIMARY KEY, customer TEXT, cents INTEGER); CREATE TABLE " +
                          db.table("reserved") + " (order_id INTEGER); CREATE TABLE " +
                          db.table("charged") + " (order_id INTEGER, cents INTEGER)");
    tx.commit();
  }
  herald::outbox<typename Backend::store> outbox(*store, {.destination = "orders"});
  for (int i = 1; i <= orders; ++i) {
    const std::string customer = "customer-" + std::to_string(i % 17);
    auto tx = store->begin();
    Backend::exec(tx, fmt::format("INSERT INTO {} VALUES ({}, '{}', {})", db.table("orders"), i,
                                  customer, 1000 + i));
    outbox.stage(tx, order_placed{i, customer, 1000 + i}, {.key = customer});
    tx.commit();
  }
  fmt::print("placed {} orders: each order row and its OrderPlaced in one transaction\n", orders);
}

// Relays the outbox to a topic with two inbox-guarded consumers; with
// `die_after`, the process kills itself once that many events were
// published (their effects committed) and before the relay marks them sent.
template <class Backend>
int relay_orders(const Backend& db, int die_after) {
  using store_type = typename Backend::store;
  auto store = db.open();
  herald::outbox<store_type> outbox(*store);
  herald::inproc_transport transport;
  herald::topic<order_placed> topic(transport, "orders");
  herald::inbox<store_type> inventory(*store, {.consumer = "inventory"});
  herald::inbox<store_type> payment(*store, {.consumer = "payment"});
  auto reserve = topic.subscribe(inventory.template handler<order_placed>(
      [&](auto& tx, const herald::message<order_placed>& m) {
        Backend::exec(
            tx, fmt::format("INSERT INTO {} VALUES ({})", db.table("reserved"), m.data.order));
      }));
  auto charge = topic.subscribe(
      payment.template handler<order_placed>([&](auto& tx, const herald::message<order_placed>& m) {
        Backend::exec(tx, fmt::format("INSERT INTO {} VALUES ({}, {})", db.table("charged"),
                                      m.data.order, m.data.cents));
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

template <class Backend>
int run(const Backend& db, const char* where) {
  fmt::print("on {}\n", where);
  place_orders(db);
  std::fflush(stdout);
  const pid_t child = ::fork();
  if (child == 0) {
    relay_orders(db, 120);
    std::_Exit(0);  // not reached: it dies at the 120th event
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  fmt::print("relay process {} {} after publishing 120 events\n", child,
             WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? "was killed (SIGKILL)"
                                                                : "ended unexpectedly");
  const int republished = relay_orders(db, 0);
  fmt::print(
      "a second relay published {} events: the {} left, and {} the dead one had published but "
      "not marked sent, which the inboxes skipped\n",
      republished, orders - 120, republished - (orders - 120));

  long long reserved = 0, charged = 0, distinct = 0, cents = 0, expected = 0;
  {
    auto store = db.open();
    auto tx = store->begin();
    auto count = [&](const std::string& sql) { return Backend::scalar(tx, sql); };
    reserved = count("SELECT count(*) FROM " + db.table("reserved"));
    charged = count("SELECT count(*) FROM " + db.table("charged"));
    distinct = count("SELECT count(DISTINCT order_id) FROM " + db.table("charged"));
    cents = count("SELECT sum(cents) FROM " + db.table("charged"));
    expected = count("SELECT sum(cents) FROM " + db.table("orders"));
    tx.commit();
  }
  fmt::print("inventory reserved {} orders, payment charged {} ({} distinct), {} of {} cents\n",
             reserved, charged, distinct, cents, expected);
  const bool exact =
      reserved == orders && charged == orders && distinct == orders && cents == expected;
  fmt::print("lost: {}, done twice: {} -> {}\n", orders - distinct, charged - distinct,
             exact ? "every order handled exactly once" : "MISMATCH");
  db.clean_up();
  return exact ? 0 : 1;
}

}  // namespace

int main() {
#if HERALD_EXAMPLE_POSTGRES
  if (const char* url = std::getenv("HERALD_POSTGRES"); url && *url) {
    return run(postgres_backend{url}, "PostgreSQL (HERALD_POSTGRES)");
  }
#endif
  return run(sqlite_backend{}, "SQLite (the embedded default; set HERALD_POSTGRES for PostgreSQL)");
}
