// SPDX-License-Identifier: MIT
// One "resize" queue on PostgreSQL, shared by two worker processes: the
// step from one machine to several. This process sends twelve jobs (four
// of them in one FIFO group, an album that must be resized in order), then
// starts two worker processes; each runs a host with a worker until the
// queue is empty and says which image it resized. The processes share
// nothing but the database.
//
//   HERALD_POSTGRES=postgresql://user@host:5432/db image_workers
//   scripts/with-postgres sh -c 'HERALD_POSTGRES=$HERALD_TEST_POSTGRES
//   build/dev/examples/image_workers'

#include <fmt/core.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <herald/postgres/postgres_store.hpp>
#include <herald/queue/queue.hpp>
#include <herald/queue/worker.hpp>
#include <herald/runtime/host.hpp>
#include <string>
#include <thread>

namespace media {

struct resize_image {
  static constexpr std::string_view event_type = "media.image.resize";
  std::string image;
  int width = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(resize_image, image, width)

}  // namespace media

namespace {

using images_queue = herald::queue<media::resize_image, herald::postgres_store>;
constexpr const char* schema = "herald_example_image_workers";

// A worker process: works the queue until it is empty; its exit status is
// how many images it resized.
int work(const char* url, const char* name) {
  herald::postgres_store store(url, {.schema = schema});
  images_queue images(store, "resize");
  std::atomic<int> resized{0};  // handlers run on two threads
  herald::worker_options options;
  options.concurrency = 2;
  herald::worker resizer(
      images,
      [&](const herald::message<media::resize_image>& m) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the work
        fmt::print("worker {} (pid {}) resized {} to {} px\n", name, ::getpid(), m.data.image,
                   m.data.width);
        std::fflush(stdout);
        ++resized;
      },
      options);
  herald::host host;
  host.add(resizer);
  host.start();
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto s = images.stats();
    if (s.depth + s.in_flight + s.delayed == 0) break;
  }
  host.stop();
  return resized.load();
}

}  // namespace

int main() {
  const char* url = std::getenv("HERALD_POSTGRES");
  if (!url || !*url) {
    fmt::print(stderr,
               "image_workers needs a PostgreSQL server: set HERALD_POSTGRES to its URL, e.g.\n"
               "  HERALD_POSTGRES=postgresql://postgres@127.0.0.1:5432/postgres image_workers\n"
               "or run it beside a throwaway one:\n"
               "  scripts/with-postgres sh -c 'HERALD_POSTGRES=$HERALD_TEST_POSTGRES "
               "build/dev/examples/image_workers'\n");
    return 2;
  }
  int sent = 0;
  {
    herald::postgres_store store(url, {.schema = schema});
    images_queue images(store, "resize");
    images.purge_dead_letters();
    for (int i = 1; i <= 8; ++i) {
      images.send(media::resize_image{fmt::format("upload-{:02}.jpg", i), 640});
      ++sent;
    }
    herald::send_options album;
    album.group = "album-7";  // one at a time, in this order, whichever process takes them
    for (int i = 1; i <= 4; ++i) {
      images.send(media::resize_image{fmt::format("album-7/page-{}.jpg", i), 1024}, album);
      ++sent;
    }
    fmt::print("sent {} resize jobs to PostgreSQL (4 in FIFO group album-7)\n", sent);
  }  // closed before fork(): each process opens its own connections
  std::fflush(stdout);

  pid_t children[2] = {};
  const char* names[2] = {"A", "B"};
  for (int i = 0; i < 2; ++i) {
    children[i] = ::fork();
    if (children[i] < 0) {
      std::perror("fork");
      return 1;
    }
    if (children[i] == 0) std::_Exit(work(url, names[i]));
  }
  int counts[2] = {};
  for (int i = 0; i < 2; ++i) {
    int status = 0;
    ::waitpid(children[i], &status, 0);
    counts[i] = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  fmt::print("worker A resized {}, worker B resized {}: {} of {} jobs, {}\n", counts[0], counts[1],
             counts[0] + counts[1], sent,
             counts[0] + counts[1] == sent ? "each exactly once" : "CHECK THE LOG");
  return counts[0] + counts[1] == sent ? 0 : 1;
}
