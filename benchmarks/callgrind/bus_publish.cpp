// SPDX-License-Identifier: MIT
// One of the programs benchmarks/callgrind/count runs under callgrind.
#include <cstdlib>
#include <herald/bus/bus.hpp>
struct order_placed {
  static constexpr std::string_view event_type = "shop.order.placed";
  int id = 0;
};
volatile int sink;
template <class Bus>
void run(int n, int handlers) {
  Bus bus;
  std::vector<herald::subscription> subs;
  for (int i = 0; i < handlers; ++i)
    subs.push_back(
        bus.template subscribe<order_placed>([](const order_placed& e) { sink = e.id; }));
  order_placed e{1};
  for (int i = 0; i < n; ++i) bus.publish(e);
}
int main(int argc, char** argv) {
  int n = std::atoi(argv[1]);
  int which = std::atoi(argv[2]);
  if (which == 0) run<herald::bus>(n, 1);
  if (which == 1) run<herald::bus>(n, 10);
  if (which == 2) run<herald::local_bus>(n, 1);
}
