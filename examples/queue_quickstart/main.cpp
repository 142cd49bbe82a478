// SPDX-License-Identifier: MIT
// The README's queue quick start, built and run in CI so that it stays true.
#include <fmt/core.h>

#include <future>
#include <herald/bus/thread_pool.hpp>
#include <herald/queue/worker.hpp>
#include <herald/runtime/host.hpp>
#include <herald/sqlite/sqlite_store.hpp>
#include <string>

struct resize_image {
  static constexpr std::string_view event_type = "media.image.resize";
  std::string path;
  int width = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(resize_image, path, width)

int main() {
  herald::thread_pool pool(2);                       // declared first: it outlives its users
  herald::sqlite_store store("quickstart-jobs.db");  // one file, survives a crash
  herald::queue<resize_image, herald::sqlite_store> images(store, "images");

  std::promise<void> resized;
  herald::worker resizer(images, [&](herald::delivery<resize_image>& d) {
    fmt::print("resized {} to {} px (attempt {})\n", d.data().path, d.data().width, d.attempt());
    resized.set_value();  // throwing instead would retry it with backoff
  });

  herald::host host({.runs_on = &pool});  // one start, one graceful stop, health
  host.add(resizer);
  host.start();
  images.send(resize_image{"cat.jpg", 640});  // wakes the idle worker at once
  resized.get_future().wait();
  fmt::print("health: {}\n", host.health_json());
  host.stop();  // in reverse order; waits for handlers in flight
}
