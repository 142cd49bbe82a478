// SPDX-License-Identifier: MIT
#pragma once

// One NATS connection with its JetStream context, and libnats' statuses as
// herald errors.

#include <nats/nats.h>

#include <chrono>   // timeouts as milliseconds
#include <cstdint>  // libnats' int64 milliseconds
#include <string>   // error text
#include <string_view>

#include "herald/error.hpp"
#include "herald/nats/nats_options.hpp"

namespace herald::detail {

inline std::int64_t nats_ms(duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// JetStream's configuration takes nanoseconds.
inline std::int64_t nats_ns(duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

// What may pass if one tries again: the server restarting, a connection
// being re-established, an acknowledgement that did not come in time.
inline bool nats_transient(natsStatus s) noexcept {
  switch (s) {
    case NATS_TIMEOUT:
    case NATS_NO_RESPONDERS:  // JetStream not (yet) answering: the server is starting
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NOT_YET_CONNECTED:
    case NATS_IO_ERROR:
    case NATS_NO_SERVER:
    case NATS_STALE_CONNECTION:
      return true;
    default:
      return false;
  }
}

// Throws what `s` means: errc::broker_unavailable if it may pass, else
// errc::broker_refused, with JetStream's own code where it gave one.
[[noreturn]] inline void throw_nats(natsStatus s, jsErrCode js_code, const std::string& what) {
  std::string text = what + ": " + natsStatus_GetText(s);
  if (const char* last = nats_GetLastError(nullptr); last && *last) {
    text += " (";
    text += last;
    text += ")";
  }
  if (js_code != 0) text += " [JetStream error " + std::to_string(static_cast<int>(js_code)) + "]";
  if (nats_transient(s)) {
    throw error(errc::broker_unavailable,
                text + "; is nats-server running with JetStream (-js) and reachable?");
  }
  throw error(errc::broker_refused, text);
}

inline void nats_check(natsStatus s, const std::string& what, jsErrCode js_code = jsErrCode{}) {
  if (s != NATS_OK) throw_nats(s, js_code, what);
}

// The connection (reconnecting for ever) and its JetStream context.
class nats_connection {
 public:
  explicit nats_connection(const nats_options& o) {
    nats_check(nats_Open(-1), "cannot initialise libnats");
    natsOptions* opts = nullptr;
    nats_check(natsOptions_Create(&opts), "cannot create NATS options");
    struct options_guard {
      natsOptions* o;
      ~options_guard() { natsOptions_Destroy(o); }
    } guard{opts};
    nats_check(natsOptions_SetURL(opts, o.url.c_str()), "invalid NATS url '" + o.url + "'");
    nats_check(natsOptions_SetName(opts, o.connection_name.c_str()), "invalid connection name");
    nats_check(natsOptions_SetTimeout(opts, nats_ms(o.connect_timeout)), "invalid connect_timeout");
    nats_check(natsOptions_SetMaxReconnect(opts, -1), "cannot set reconnects");
    nats_check(natsOptions_SetReconnectWait(opts, nats_ms(o.reconnect_wait)),
               "invalid reconnect_wait");
    // Publishes made while reconnecting wait in this buffer, then go out.
    nats_check(natsOptions_SetReconnectBufSize(opts, 64 * 1024 * 1024), "cannot set buffer");
    nats_check(natsConnection_Connect(&connection_, opts),
               "cannot connect to NATS at '" + o.url + "'");
    jsOptions js_opts;
    jsOptions_Init(&js_opts);
    js_opts.Wait = nats_ms(o.ack_timeout);
    if (const natsStatus s = natsConnection_JetStream(&js_, connection_, &js_opts); s != NATS_OK) {
      natsConnection_Destroy(connection_);
      throw_nats(s, jsErrCode{}, "cannot open JetStream on '" + o.url + "'");
    }
  }
  ~nats_connection() {
    jsCtx_Destroy(js_);
    natsConnection_Close(connection_);
    natsConnection_Destroy(connection_);
  }
  nats_connection(const nats_connection&) = delete;
  nats_connection& operator=(const nats_connection&) = delete;

  [[nodiscard]] natsConnection* get() const noexcept { return connection_; }
  [[nodiscard]] jsCtx* js() const noexcept { return js_; }
  [[nodiscard]] bool connected() const noexcept {
    return natsConnection_Status(connection_) == NATS_CONN_STATUS_CONNECTED;
  }
  // How many times it reconnected so far (0 if the count cannot be had).
  [[nodiscard]] std::uint64_t reconnects() const noexcept {
    natsStatistics* stats = nullptr;
    std::uint64_t count = 0;
    if (natsStatistics_Create(&stats) == NATS_OK &&
        natsConnection_GetStats(connection_, stats) == NATS_OK) {
      natsStatistics_GetCounts(stats, nullptr, nullptr, nullptr, nullptr, &count);
    }
    natsStatistics_Destroy(stats);
    return count;
  }

 private:
  natsConnection* connection_ = nullptr;
  jsCtx* js_ = nullptr;
};

}  // namespace herald::detail
