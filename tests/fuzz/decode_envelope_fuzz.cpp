// SPDX-License-Identifier: MIT
// No byte string may crash decode_envelope or make it throw anything but
// herald::decode_error; what it accepts must survive encode and decode again.
#include <cstdint>
#include <cstdlib>
#include <herald/codec.hpp>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  herald::decode_limits limits;
  limits.max_depth = 16;  // also exercise the limit, not only the default
  for (const auto& l : {herald::decode_limits{}, limits}) {
    herald::envelope decoded;
    try {
      decoded = herald::decode_envelope(input, l);
    } catch (const herald::decode_error&) {
      continue;  // rejected with a reason: fine
    }
    // Re-encoding may be longer than the input ("1e5" becomes "100000.0"):
    // give it room, and decode with the same room.
    herald::decode_limits roomy = l;
    roomy.max_bytes = std::size_t{1} << 30;
    std::string encoded = herald::encode_envelope(decoded, roomy);
    if (herald::decode_envelope(encoded, roomy) != decoded) std::abort();
  }
  return 0;
}
