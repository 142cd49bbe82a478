// SPDX-License-Identifier: MIT
// The worker's decode path: a stored body becomes a typed message or a
// herald::decode_error (which dead-letters it with the reason), never a
// crash or another exception; what decodes encodes and decodes the same.
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <herald/codec.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct order_placed {
  static constexpr std::string_view event_type = "shop.order.placed";
  std::string order_id;
  std::vector<int> lines;
  double total = 0;
  bool operator==(const order_placed&) const = default;
};

// Written out rather than NLOHMANN_DEFINE_TYPE: nlohmann converts a JSON number
// to int with a bare cast, undefined for 3e10 or 1e300, so a type whose
// producers are not trusted checks the range itself (docs/codec.md, "Numbers").
void from_json(const nlohmann::json& j, order_placed& o) {
  j.at("order_id").get_to(o.order_id);
  j.at("total").get_to(o.total);
  o.lines.clear();
  for (const auto& line : j.at("lines")) {
    bool fits = line.is_number_unsigned() ? line.get<std::uint64_t>() <= INT_MAX
                : line.is_number_integer()
                    ? line.get<std::int64_t>() >= INT_MIN && line.get<std::int64_t>() <= INT_MAX
                    : false;
    if (!fits) {
      throw nlohmann::json::type_error::create(302, "lines: an int was expected", &line);
    }
    o.lines.push_back(line.get<int>());
  }
}
void to_json(nlohmann::json& j, const order_placed& o) {
  j = {{"order_id", o.order_id}, {"lines", o.lines}, {"total", o.total}};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  herald::message<order_placed> m;
  try {
    m = herald::decode<order_placed>(body);
  } catch (const herald::decode_error&) {
    return 0;  // dead-lettered with the reason
  }
  herald::decode_limits roomy;
  roomy.max_bytes = std::size_t{1} << 30;
  auto again = herald::decode<order_placed>(herald::encode(m, roomy), roomy);
  if (!(again.data == m.data) ||
      static_cast<const herald::attributes&>(again) != static_cast<const herald::attributes&>(m)) {
    std::abort();
  }
  return 0;
}
