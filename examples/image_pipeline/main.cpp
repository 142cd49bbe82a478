// SPDX-License-Identifier: MIT
// An "image uploaded" queue in one SQLite file, worked by three jobs:
// thumbnails, metadata and moderation, and a second queue that notifies the
// uploader when a job is done. Both workers run on one host and one thread
// pool. Moderation's scanner is down, so its job retries with exponential
// backoff and lands in the dead-letter queue; once the scanner is back, the
// dead letter is redriven and the host runs the workers on their threads,
// then stops gracefully and prints its metrics. The retry timeline runs on a
// simulated clock, so it reads the same on every run.

#include <fmt/core.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <herald/bus/thread_pool.hpp>
#include <herald/queue/queue.hpp>
#include <herald/queue/worker.hpp>
#include <herald/runtime/host.hpp>
#include <herald/runtime/metrics.hpp>
#include <herald/sqlite/sqlite_store.hpp>
#include <herald/testing/manual_clock.hpp>
#include <mutex>
#include <stdexcept>
#include <string>

namespace media {

struct image_uploaded {
  static constexpr std::string_view event_type = "media.image.uploaded";
  std::string image;
  std::string job;  // thumbnail, metadata, moderation
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(image_uploaded, image, job)

struct job_done {
  static constexpr std::string_view event_type = "media.job.done";
  std::string image;
  std::string job;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(job_done, image, job)

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

  herald::queue<media::job_done, herald::sqlite_store> done(
      store, "notifications", herald::queue_options{"/uploads", 5min, clock});

  // One pool, one failure sink and one metrics registry for every part of the host.
  herald::thread_pool pool(2);
  herald::metrics_registry metrics;
  herald::failure_callback failures([&](const herald::failure& f) {
    if (f.kind == herald::failure_kind::dead_lettered) {
      fmt::print("{}  attempt {} failed -> dead-letter queue: {}\n", at(clock.now()), f.attempt,
                 f.text);
    } else if (f.kind == herald::failure_kind::retry_scheduled) {
      fmt::print("{}  attempt {} failed: {}; retry at {}\n", at(clock.now()), f.attempt, f.text,
                 at(*f.retry_at));
    } else {
      fmt::print("{}  {}: {}\n", at(clock.now()), herald::to_string(f.kind), f.text);
    }
  });
  herald::host host({&pool, &failures, &metrics});

  bool scanner_up = false;
  herald::worker_options options;
  options.concurrency = 4;
  options.retry.base = 1s;
  options.retry.factor = 2;
  options.retry.max_attempts = 4;
  options.retry.jitter = false;  // a readable timeline; leave it on in production
  herald::worker jobs(
      uploads,
      [&](const media::image_uploaded& e) {
        if (e.job == "moderation" && !scanner_up)
          throw std::runtime_error("moderation scanner unreachable");
        done.send(media::job_done{e.image, e.job});  // caused by the upload
      },
      options);

  std::mutex mutex;
  std::condition_variable notified;
  int notifications = 0;
  herald::worker notifier(done, [&](const herald::message<media::job_done>& m) {
    std::lock_guard lock(mutex);
    fmt::print("{}  {:<10} done for {}: uploader notified\n", at(clock.now()), m.data.job,
               m.data.image);
    ++notifications;
    notified.notify_all();
  });
  host.add(jobs);
  host.add(notifier);

  for (const char* job : {"thumbnail", "metadata", "moderation"}) {
    uploads.send(media::image_uploaded{"cat.jpg", job});
  }
  fmt::print("{}  uploaded cat.jpg: 3 jobs queued\n", at(clock.now()));

  // The host's parts, driven by the simulated clock: 10 seconds, 500 ms apart.
  for (int tick = 0; tick <= 20; ++tick) {
    host.run_once(clock.now());
    clock.advance(500ms);
  }

  auto stats = uploads.stats();
  fmt::print("\nqueue: {} ready, {} in flight, {} delayed, {} dead-lettered\n", stats.depth,
             stats.in_flight, stats.delayed, stats.dead_lettered);
  for (const auto& dead : uploads.dead_letters()) {
    auto m = dead.decode();
    fmt::print("dead letter: {} for {} after {} attempts (first {}, last {}): {}\n", m.data.job,
               m.data.image, dead.attempts, at(dead.first_attempt_at), at(dead.last_attempt_at),
               dead.reason);
  }

  // Now on threads: the host starts both workers; a send wakes them at once.
  scanner_up = true;
  host.start();
  fmt::print("\n{}  scanner is back; redriving {} message(s)\n", at(clock.now()),
             uploads.redrive_all());
  {
    std::unique_lock lock(mutex);
    notified.wait_for(lock, 30s, [&] { return notifications == 3; });
  }
  const auto report = host.stop(5s);
  fmt::print("host stopped {}\n", report.in_time ? "gracefully, every handler done" : "LATE");
  stats = uploads.stats();
  fmt::print(
      "queue: {} ready, {} dead-lettered; all jobs done: {}\n", stats.depth, stats.dead_lettered,
      stats.depth + stats.delayed + stats.dead_lettered == 0 && notifications == 3 ? "yes" : "no");
  fmt::print("\n# metrics, in the Prometheus text format\n{}", metrics.prometheus());
  for (const char* suffix : {"", "-wal", "-shm", "-reserve"})
    std::filesystem::remove(path + suffix);
}
