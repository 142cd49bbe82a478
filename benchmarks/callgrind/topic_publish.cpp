// SPDX-License-Identifier: MIT
// One of the programs benchmarks/callgrind/count runs under callgrind.
#include <cstdlib>
#include <herald/topic/topic.hpp>
#include <string>
#include <vector>
struct reading {
  static constexpr std::string_view event_type = "home.sensor.reading";
  std::string device;
  double celsius = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(reading, device, celsius)
volatile double sink;
int main(int argc, char** argv) {
  int n = std::atoi(argv[1]);
  int subs_n = std::atoi(argv[2]);
  herald::inproc_transport transport;
  herald::topic<reading> readings(transport, "home.readings");
  std::vector<herald::subscription> subs;
  for (int i = 0; i < subs_n; ++i)
    subs.push_back(readings.subscribe([](const reading& r) { sink = r.celsius; }));
  reading r{"sensor-7", 21.5};
  for (int i = 0; i < n; ++i) readings.publish(r);
}
