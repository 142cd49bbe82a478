// SPDX-License-Identifier: MIT
// A user of the NATS backend: find_package(herald COMPONENTS nats) and
// herald::nats give the transport and libnats (found through the FindLibNATS
// module installed beside herald's config). With a server named in
// HERALD_TEST_NATS it publishes one event there, on a stream of its own.
#include <fmt/core.h>
#include <unistd.h>

#include <cstdlib>
#include <herald/nats/nats_transport.hpp>
#include <herald/topic/topic.hpp>
#include <nlohmann/json.hpp>
#include <string>

struct order_placed {
  static constexpr std::string_view event_type = "shop.order.placed";
  int id = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order_placed, id)

int main() {
  const char* url = std::getenv("HERALD_TEST_NATS");
  if (!url || !*url) {
    fmt::print("consumer linked herald::nats (no server named in HERALD_TEST_NATS)\n");
    return 0;
  }
  herald::nats_options options;
  options.url = url;
  options.stream_prefix = "consumer-" + std::to_string(::getpid());
  herald::nats_transport transport(options);
  herald::topic<order_placed, herald::nats_transport> orders(transport, "shop.orders");
  const auto stored = orders.publish(order_placed{7});
  js_DeleteStream(transport.native_jetstream(), transport.stream_of("shop.orders").c_str(), nullptr,
                  nullptr);
  fmt::print("consumer published shop.order.placed to JetStream (sequence {})\n", stored.sequence);
}
