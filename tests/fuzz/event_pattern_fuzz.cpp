// SPDX-License-Identifier: MIT
// Input: pattern text, a NUL byte, event JSON. No input may crash parsing or
// matching, or make them throw anything but herald::pattern_error; a rule_set
// must answer exactly what matching the pattern alone answers.
#include <cstdint>
#include <cstdlib>
#include <herald/routing/event_pattern.hpp>
#include <herald/routing/rule_set.hpp>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t split = input.find('\0');
  std::string_view pattern_text = input.substr(0, split);
  std::string_view event_text = split == std::string_view::npos ? "{}" : input.substr(split + 1);
  herald::event_pattern pattern;
  try {
    pattern = herald::event_pattern::parse(pattern_text);
  } catch (const herald::pattern_error&) {
    return 0;  // refused with a reason: fine
  }
  nlohmann::json event = nlohmann::json::parse(event_text, nullptr, false);
  if (event.is_discarded()) return 0;
  const bool alone = pattern.matches(event);
  herald::rule_set<int> rules;
  rules.add(pattern, 1);
  rules.add(herald::event_pattern::parse(R"({"type": ["fuzz.other"]})"), 2);  // a second index
  bool in_set = false;
  rules.for_each_match(event, [&](int target) { in_set = in_set || target == 1; });
  if (alone != in_set) std::abort();
  return 0;
}
