// SPDX-License-Identifier: MIT
#pragma once

// A message fetched from JetStream as a handler sees it.

#include <nats/nats.h>

#include <cstddef>      // sizes
#include <cstdlib>      // std::free of libnats' key array
#include <string>       // bodies
#include <string_view>  // bodies

#include "herald/error.hpp"
#include "herald/nats/detail/binary_mode.hpp"
#include "herald/transport/concepts.hpp"

namespace herald::detail {

// A message's headers, the first value of each name.
inline nats_header_list nats_headers(natsMsg* msg) {
  nats_header_list headers;
  const char** keys = nullptr;
  int count = 0;
  if (natsMsgHeader_Keys(msg, &keys, &count) != NATS_OK) return headers;
  struct release {
    const char** k;
    ~release() { std::free(static_cast<void*>(k)); }
  } guard{keys};
  for (int i = 0; i < count; ++i) {
    const char* value = nullptr;
    if (natsMsgHeader_Get(msg, keys[i], &value) != NATS_OK || !value) continue;
    headers.emplace_back(keys[i], value);
  }
  return headers;
}

// Sets wire.subject; wire.data: a binary-mode CloudEvent (another SDK's, or
// a binary_mode publisher's) as its structured envelope, any other message as
// its bytes; and wire.id: Nats-Msg-Id, else the CloudEvent's id (for
// reports). Throws errc::decode_failed for a message that never can be read.
inline void read_message(natsMsg* msg, wire_message& wire) {
  wire.subject = natsMsg_GetSubject(msg);
  const char* id = nullptr;
  if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK && id) wire.id = id;
  const std::string_view body(natsMsg_GetData(msg),
                              static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  auto event = decode_binary_mode(nats_headers(msg), body);
  if (wire.id.empty()) wire.id = std::move(event.id);
  if (!event.refusal.empty()) {
    throw error(errc::decode_failed, "a binary-mode CloudEvent that cannot be read: " +
                                         event.refusal + "; dead-lettered at once");
  }
  wire.data = event.binary ? std::move(event.structured) : std::string(body);
}

}  // namespace herald::detail
