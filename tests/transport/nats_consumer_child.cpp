// SPDX-License-Identifier: MIT
// A member of a NATS consumer group for the consumer-kill test: it appends a
// line "<pid> <message>" to a log for every message it handles (one write()
// to a file opened with O_APPEND, so lines of several processes never mix),
// before its handler returns and the message is acknowledged, and runs until
// SIGTERM. The test SIGKILLs it mid-stream.
//
//   nats_consumer_child <url> <stream prefix> <subject> <log> <pace µs>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <herald/nats/nats_transport.hpp>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr,
                 "usage: nats_consumer_child <url> <stream prefix> <subject> <log> <pace µs>\n");
    return 2;
  }
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, nullptr);  // before any thread: sigwait takes it
  const int log = ::open(argv[4], O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log < 0) return 3;
  const long pace = std::atol(argv[5]);
  herald::nats_options options;
  options.url = argv[1];
  options.stream_prefix = argv[2];
  options.start = herald::nats_start::all;
  options.ack_wait = std::chrono::seconds(2);  // a killed member's messages come back soon
  options.fetch_wait = std::chrono::milliseconds(200);
  herald::nats_transport transport(options);
  herald::subscribe_options group;
  group.group = "members";
  auto member = transport.subscribe(argv[3], group, [&](const herald::wire_message& m) {
    std::this_thread::sleep_for(std::chrono::microseconds(pace));
    const std::string line = std::to_string(::getpid()) + " " + m.data + "\n";
    if (::write(log, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::abort();
  });
  int signal = 0;
  sigwait(&term, &signal);
  return 0;
}
