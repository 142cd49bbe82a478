// SPDX-License-Identifier: MIT
// The worker's decode path: a stored body becomes a typed message or a
// herald::decode_error (which dead-letters it with the reason), never a
// crash or another exception; what decodes encodes and decodes the same.
#include <herald/codec.hpp>

#include <cstdint>
#include <cstdlib>
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
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order_placed, order_id, lines, total)

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
  if (!(again.data == m.data) || static_cast<const herald::attributes&>(again) !=
                                     static_cast<const herald::attributes&>(m)) {
    std::abort();
  }
  return 0;
}
