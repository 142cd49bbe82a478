// SPDX-License-Identifier: MIT
// Device events in a smart home, routed by rules the way a cloud event bus
// routes them: numeric thresholds, prefixes on device ids, anything-but on
// states, CIDR blocks on the reporting address, and $or. Each rule that fires
// prints its name next to the event that fired it.

#include <fmt/core.h>

#include <herald/bus/bus.hpp>
#include <herald/cloudevent_json.hpp>
#include <herald/routing/route.hpp>
#include <herald/routing/rule_set.hpp>
#include <herald/routing/typed_pattern.hpp>
#include <herald/topic/topic.hpp>
#include <map>
#include <string>
#include <vector>

namespace home {

// One event type for every device reading keeps the rules in charge of routing.
struct device_event {
  static constexpr std::string_view event_type = "home.device.reported";
  std::string device;  // "thermo-kitchen", "motion-hall", "door-front", "plug-heater"
  std::string kind;    // temperature, motion, door, power
  std::string state;   // open, closed, on, off, detected, idle
  double value = 0;    // degrees, watts
  std::string ip;      // the address the device reported from
};

void to_json(nlohmann::json& j, const device_event& e) {
  j = {
      {"device", e.device}, {"kind", e.kind}, {"state", e.state}, {"value", e.value}, {"ip", e.ip}};
}
void from_json(const nlohmann::json& j, device_event& e) {
  j.at("device").get_to(e.device);
  j.at("kind").get_to(e.kind);
  j.at("state").get_to(e.state);
  j.at("value").get_to(e.value);
  j.at("ip").get_to(e.ip);
}

// What an alerting rule publishes when it fires.
struct alert_raised {
  static constexpr std::string_view event_type = "home.alert.raised";
  std::string rule;
  std::string device;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(alert_raised, rule, device)

}  // namespace home

int main() {
  // Routes see events of every type; these two may look into the payload.

  // Alerting rules, each a bus subscription with a pattern.
  herald::local_bus bus;
  std::vector<herald::subscription> alerting;
  auto alert = [&](const char* rule, const char* pattern) {
    alerting.push_back(bus.subscribe<home::device_event>(
        herald::event_pattern::parse(pattern), [&bus, rule](const home::device_event& e) {
          fmt::print("  alert      {:<28} <- {} {} {} {}\n", rule, e.device, e.kind, e.state,
                     e.value);
          bus.publish(home::alert_raised{rule, e.device});
        }));
  };
  alert("overheating", R"({"data":{"kind":["temperature"],"value":[{"numeric":[">=",30]}]}})");
  alert("front door left open",
        R"({"data":{"device":[{"prefix":"door-front"}],"state":["open"]}})");
  alert("device outside the LAN", R"({"data":{"ip":[{"anything-but":{"prefix":"192.168."}}]}})");

  // An audit rule over events of any type on the bus: readings and alerts alike.
  std::map<std::string, int> audited;
  auto audit = bus.route(R"({"type":[{"prefix":"home."}]})",
                         [&](const herald::envelope& e) { ++audited[e.type]; });
  // And a rule that looks into the alerts' payload, whatever publishes them.
  auto pager =
      bus.route(R"({"type":["home.alert.raised"],"data":{"device":[{"prefix":"door-"}]}})",
                [](const herald::envelope& e) {
                  fmt::print("  page owner {:<28} <- {}\n", e.data->at("rule").get<std::string>(),
                             e.data->at("device").get<std::string>());
                });

  // Automation rules, many at once in a rule_set: what to switch, by rule name.
  herald::rule_set<std::string> automation;
  automation.add(herald::event_pattern::parse(R"({"data":{"kind":["motion"],"state":["detected"],
      "device":[{"prefix":"motion-hall"}]}})"),
                 "hall lights on");
  automation.add(herald::event_pattern::parse(R"({"data":{"kind":["power"],
      "state":[{"anything-but":["off","standby"]}],"value":[{"numeric":[">",2000]}]}})"),
                 "shed load: heater off");
  automation.add(herald::event_pattern::parse(R"({"data":{"ip":[{"cidr":"192.168.10.0/24"}],
      "kind":["door"]}})"),
                 "log door on the secure VLAN");
  automation.add(herald::event_pattern::parse(R"({"$or":[
      {"data":{"kind":["temperature"],"value":[{"numeric":["<",16]}]}},
      {"data":{"device":["door-front"],"state":["open"]}}]})"),
                 "heating boost");

  // Devices publish on a topic; one subscriber runs the automation table.
  herald::inproc_transport transport;
  herald::topic<home::device_event> devices(transport, "home.devices");
  auto automate = devices.subscribe([&](const herald::message<home::device_event>& m) {
    for (const auto& rule : automation.match(herald::to_cloudevent_json(m))) {
      fmt::print("  automation {:<28} <- {} {} {} {}\n", rule, m.data.device, m.data.kind,
                 m.data.state, m.data.value);
    }
    bus.publish(m);  // and on to the alerting rules
  });

  const home::device_event readings[] = {
      {"thermo-kitchen", "temperature", "ok", 31.5, "192.168.1.20"},
      {"thermo-bedroom", "temperature", "ok", 15.0, "192.168.1.21"},
      {"motion-hall-1", "motion", "detected", 1, "192.168.1.30"},
      {"door-front", "door", "open", 0, "192.168.10.5"},
      {"plug-heater", "power", "on", 2400, "192.168.1.40"},
      {"plug-heater", "power", "standby", 2400, "192.168.1.40"},
      {"thermo-garage", "temperature", "ok", 22.0, "10.8.0.3"},
  };
  for (const auto& reading : readings) {
    fmt::print("{} reports {} {} {}\n", reading.device, reading.kind, reading.state, reading.value);
    devices.publish(reading);
  }
  fmt::print("\n{} events, {} automation rules, {} alerting rules; nothing dead-lettered: {}\n",
             std::size(readings), automation.size(), alerting.size(),
             devices.dead_lettered() == 0 ? "yes" : "no");
  for (const auto& [type, count] : audited) fmt::print("audit: {} x {}\n", count, type);
}
