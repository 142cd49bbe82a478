// SPDX-License-Identifier: MIT
// A lambda where a clock goes: parts read a herald::clock, not a callable.
#include <herald/queue/queue.hpp>

herald::queue_options misuse() {
  return {.clock = [] { return herald::time_point{}; }};
}
