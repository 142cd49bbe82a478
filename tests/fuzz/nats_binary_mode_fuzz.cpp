// SPDX-License-Identifier: MIT
// No headers and body may crash the NATS binary-mode decoder or make it
// throw: each ends in an envelope or a refusal with a reason. An envelope is
// JSON that decode_envelope reads or refuses with a decode_error; one it
// reads goes out in binary mode and comes back with the same attributes; a
// header value survives percent-encoding and decoding unchanged.
#include <cstdint>
#include <cstdlib>
#include <herald/codec.hpp>
#include <herald/nats/detail/binary_mode.hpp>
#include <string>
#include <string_view>

namespace {

// Header lines ("name:value") up to an empty line, then the body.
herald::detail::nats_header_list split(std::string_view& input) {
  herald::detail::nats_header_list headers;
  while (!input.empty()) {
    const auto end = input.find('\n');
    const auto line = input.substr(0, end);
    input = end == std::string_view::npos ? std::string_view() : input.substr(end + 1);
    if (line.empty()) break;
    const auto colon = line.find(':');
    headers.emplace_back(
        std::string(line.substr(0, colon)),
        colon == std::string_view::npos ? std::string() : std::string(line.substr(colon + 1)));
  }
  return headers;
}

void same_attributes(const herald::envelope& a, const herald::envelope& b) {
  if (a.id != b.id || a.source != b.source || a.type != b.type || a.subject != b.subject ||
      a.dataschema != b.dataschema) {
    std::abort();
  }
  // Binary mode labels data without a datacontenttype application/json.
  if (!a.datacontenttype.empty() && a.datacontenttype != b.datacontenttype) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto headers = split(input);
  const auto event = herald::detail::decode_binary_mode(headers, input);
  if (event.binary && event.refusal.empty()) {
    if (!nlohmann::json::accept(event.structured)) std::abort();
    herald::decode_limits roomy;
    roomy.max_bytes = std::size_t{1} << 30;
    try {
      const auto decoded = herald::decode_envelope(event.structured, roomy);
      const auto out = herald::detail::to_binary_mode(herald::encode_envelope(decoded, roomy));
      const auto again = herald::detail::decode_binary_mode(out.headers, out.body);
      if (!again.binary || !again.refusal.empty()) std::abort();
      same_attributes(decoded, herald::decode_envelope(again.structured, roomy));
    } catch (const herald::decode_error&) {
      // refused with a reason: fine
    }
  }
  for (const auto& [name, value] : headers) {
    const auto back =
        herald::detail::nats_percent_decode(herald::detail::nats_percent_encode(value));
    if (!back || *back != value) std::abort();
  }
  return 0;
}
