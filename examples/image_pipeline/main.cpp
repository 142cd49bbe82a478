// SPDX-License-Identifier: MIT
// An "image uploaded" queue in one SQLite file, worked by three jobs:
// thumbnails, metadata and moderation. Moderation's scanner is down, so its
// job retries with exponential backoff and lands in the dead-letter queue;
// once the scanner is back, the dead letter is redriven. Time is simulated
// (a manual clock), so the timeline reads the same on every run.

#include <fmt/core.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <herald/queue/queue.hpp>
#include <herald/queue/worker.hpp>
#include <herald/sqlite/sqlite_store.hpp>
#include <herald/testing/manual_clock.hpp>
#include <stdexcept>
#include <string>

namespace media {

struct image_uploaded {
  static constexpr std::string_view event_type = "media.image.uploaded";
  std::string image;
  std::string job;  // thumbnail, metadata, moderation
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(image_uploaded, image, job)

}  // namespace media

int main() {
  using namespace std::chrono_literals;
  const auto path = (std::filesystem::temp_directory_path() / "herald-image-pipeline.db").string();
  for (const char* suffix : {"", "-wal", "-shm", "-reserve"})
    std::filesystem::remove(path + suffix);

  herald::manual_clock clock;
  const auto t0 = clock.now();
  auto at = [&](herald::time_point t) {
    return fmt::format("t+{:>4.1f}s", std::chrono::duration<double>(t - t0).count());
  };

  herald::sqlite_store store(path);
  herald::queue<media::image_uploaded, herald::sqlite_store> uploads(
      store, "images", herald::queue_options{"/uploads", 5min, clock});

  bool scanner_up = false;
  herald::worker_options options;
  options.concurrency = 4;
  options.retry.base = 1s;
  options.retry.factor = 2;
  options.retry.max_attempts = 4;
  options.retry.jitter = false;  // a readable timeline; leave it on in production
  herald::failure_callback failures([&](const herald::failure& f) {
    if (f.kind == herald::failure_kind::dead_lettered) {
      fmt::print("{}  attempt {} failed -> dead-letter queue: {}\n", at(clock.now()), f.attempt,
                 f.text);
    } else if (f.kind == herald::failure_kind::retry_scheduled) {
      fmt::print("{}  attempt {} failed: {}; retry at {}\n", at(clock.now()), f.attempt, f.text,
                 at(*f.retry_at));
    }
  });
  options.failures = &failures;
  herald::worker jobs(
      uploads,
      [&](const media::image_uploaded& e) {
        if (e.job == "moderation" && !scanner_up)
          throw std::runtime_error("moderation scanner unreachable");
        fmt::print("{}  {:<10} done for {}\n", at(clock.now()), e.job, e.image);
      },
      options);

  for (const char* job : {"thumbnail", "metadata", "moderation"}) {
    uploads.send(media::image_uploaded{"cat.jpg", job});
  }
  fmt::print("{}  uploaded cat.jpg: 3 jobs queued\n", at(clock.now()));

  // The worker's loop, driven by the simulated clock: 10 seconds, 500 ms apart.
  for (int tick = 0; tick <= 20; ++tick) {
    jobs.run_once(clock.now());
    clock.advance(500ms);
  }

  auto stats = uploads.stats();
  fmt::print("\nqueue: {} ready, {} in flight, {} delayed, {} dead-lettered\n", stats.depth,
             stats.in_flight, stats.delayed, stats.dead_lettered);
  for (const auto& dead : uploads.dead_letters()) {
    auto m = herald::decode<media::image_uploaded>(dead.body);
    fmt::print("dead letter: {} for {} after {} attempts (first {}, last {}): {}\n", m.data.job,
               m.data.image, dead.attempts, at(dead.first_attempt_at), at(dead.last_attempt_at),
               dead.reason);
  }

  scanner_up = true;
  fmt::print("\n{}  scanner is back; redriving {} message(s)\n", at(clock.now()),
             uploads.redrive_all());
  jobs.run_once(clock.now());
  stats = uploads.stats();
  fmt::print("queue: {} ready, {} dead-lettered; all jobs done: {}\n", stats.depth,
             stats.dead_lettered,
             stats.depth + stats.delayed + stats.dead_lettered == 0 ? "yes" : "no");
  for (const char* suffix : {"", "-wal", "-shm", "-reserve"})
    std::filesystem::remove(path + suffix);
}
