// SPDX-License-Identifier: MIT
// A relay process for the outbox crash tests. It relays the outbox of one
// database to an inbox-guarded consumer whose effects (a row per message and
// running totals) go to another database in the consumer's own transaction,
// and exits when the outbox is empty. It can kill itself with SIGKILL at a
// chosen point; the tests also kill it from outside at random moments.
//
//   outbox_crash_child sqlite <outbox.db> <consumer.db> <mode> <after> <pace µs>
//   outbox_crash_child postgres <url> <schema> <mode> <after> <pace µs>
//
// pace: a pause per delivery, so that kills from outside land mid-work. mode: none; before_publish
// (die when about to deliver the after-th message: committed, not published); after_publish (die
// once the after-th delivery committed its effects: published, not marked sent).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <herald/outbox/inbox.hpp>
#include <herald/outbox/relay.hpp>
#include <herald/sqlite/sqlite_outbox.hpp>
#if HERALD_TEST_POSTGRES
#include <herald/postgres/postgres_outbox.hpp>
#endif
#include <string>
#include <string_view>
#include <thread>

#include "support/outbox_fixtures.hpp"

namespace {

void exec_in(herald::sqlite_store::transaction& tx, const std::string& sql) {
  herald_test::exec(tx.connection(), sql);
}
#if HERALD_TEST_POSTGRES
void exec_in(herald::postgres_store::transaction& tx, const std::string& sql) {
  herald_test::pg_exec(tx.connection(), sql);
}
#endif

// `tables` prefixes the consumer's tables (a PostgreSQL schema).
template <class Store>
int relay(Store& producer, Store& consumer, const std::string& tables, std::string_view mode,
          long after, long pace_us) {
  herald::outbox<Store> box(producer);
  herald::inbox<Store> inbox(consumer, {.consumer = "totals"});
  long deliveries = 0;
  auto deliver = [&](const herald::outbox_record& r) {
    ++deliveries;
    std::this_thread::sleep_for(std::chrono::microseconds(pace_us));
    if (mode == "before_publish" && deliveries == after) ::raise(SIGKILL);
    auto m = herald::decode<herald_test::order_placed>(r.body);
    inbox.handle(m, [&](typename Store::transaction& tx, const auto& got) {
      exec_in(tx, "INSERT INTO " + tables + "effects (key, n) VALUES ('" + got.data.key + "', " +
                      std::to_string(got.data.n) + "); UPDATE " + tables +
                      "totals SET count = count + 1, sum = sum + " + std::to_string(got.data.n));
    });
    if (mode == "after_publish" && deliveries == after) ::raise(SIGKILL);
  };
  herald::relay_options options;
  options.name = "crash-" + std::to_string(::getpid());
  options.batch = 10;
  options.lease = std::chrono::seconds(1);
  options.retry.base = std::chrono::milliseconds(10);
  herald::relay relay(box, deliver, options);
  for (;;) {
    if (relay.run_once(std::chrono::system_clock::now()) > 0) continue;
    if (box.stats().backlog == 0) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // others hold the rest
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view backend = argc > 1 ? argv[1] : "";
  if (backend == "sqlite" && argc == 7) {
    herald::sqlite_store producer(argv[2]);
    herald::sqlite_store consumer(argv[3]);
    return relay(producer, consumer, "", argv[4], std::atol(argv[5]), std::atol(argv[6]));
  }
#if HERALD_TEST_POSTGRES
  if (backend == "postgres" && argc == 7) {
    const herald::postgres_options options{.schema = argv[3]};
    herald::postgres_store producer(argv[2], options);
    herald::postgres_store consumer(argv[2], options);
    return relay(producer, consumer, std::string(argv[3]) + ".", argv[4], std::atol(argv[5]),
                 std::atol(argv[6]));
  }
#endif
  std::fprintf(
      stderr, "usage: outbox_crash_child sqlite <outbox.db> <consumer.db> <mode> <after> <pace>\n");
  return 2;
}
