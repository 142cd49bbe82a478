// SPDX-License-Identifier: MIT
// What only the SQLite store has: its schema versions and its faults.
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <herald/queue/queue.hpp>
#include <herald/queue/worker.hpp>
#include <herald/sqlite/sqlite_store.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support/failure_recorder.hpp"
#include "support/queue_fixtures.hpp"

using namespace std::chrono_literals;
using herald_test::job;

namespace {

// A second connection to the file, as another process would have.
class raw_connection {
 public:
  explicit raw_connection(const std::string& path) {
    REQUIRE(sqlite3_open(path.c_str(), &db_) == SQLITE_OK);
  }
  ~raw_connection() { sqlite3_close(db_); }
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;
  void exec(const std::string& sql) {
    char* message = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    std::string text = message ? message : "";
    sqlite3_free(message);
    INFO(sql << ": " << text);
    REQUIRE(rc == SQLITE_OK);
  }
  long long scalar(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    long long v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
  }

 private:
  sqlite3* db_ = nullptr;
};

template <class F>
herald::store_error store_error_of(F&& f) {
  try {
    f();
  } catch (const herald::store_error& e) {
    return e;
  }
  FAIL("no herald::store_error was thrown");
  return herald::store_error(herald::errc::storage_failed, "unreachable");
}

}  // namespace

TEST_CASE("sqlite store: a file from a newer herald is refused, unchanged", "[queue][sqlite]") {
  herald_test::temp_db db;
  { herald::sqlite_store store(db.path()); }
  raw_connection(db.path()).exec("UPDATE herald_schema SET version = 99");
  auto e = store_error_of([&] { herald::sqlite_store store(db.path()); });
  CHECK(e.code() == herald::errc::schema_too_new);
  CHECK_THAT(std::string(e.what()), herald_test::contains("schema version 99"));
  CHECK_THAT(std::string(e.what()), herald_test::contains(db.path()));
  CHECK(raw_connection(db.path()).scalar("SELECT version FROM herald_schema") == 99);
}

TEST_CASE("sqlite store: a version 1 file is migrated and keeps its messages", "[queue][sqlite]") {
  herald_test::temp_db db;
  {
    herald::sqlite_store store(db.path());
    herald::queue<job, herald::sqlite_store> jobs(store, "jobs");
    jobs.send(job{7, ""});
  }
  {  // what version 1 had: no deduplication table, no group index, no outbox or inbox
    raw_connection old(db.path());
    old.exec(
        "DROP TABLE herald_dedup; DROP INDEX herald_queue_groups; DROP TABLE herald_outbox; "
        "DROP TABLE herald_outbox_partitions; DROP TABLE herald_outbox_relays; "
        "DROP TABLE herald_inbox; DROP TABLE herald_outbox_settings; "
        "UPDATE herald_schema SET version = 1");
  }
  herald::sqlite_store store(db.path());
  CHECK(raw_connection(db.path()).scalar("SELECT version FROM herald_schema") ==
        herald::sqlite_store::schema_version);
  herald::queue<job, herald::sqlite_store> jobs(store, "jobs");
  herald::send_options once;
  once.deduplication_id = "x";
  CHECK_FALSE(jobs.send(job{8, ""}, once).duplicate);
  CHECK(jobs.send(job{9, ""}, once).duplicate);
  std::vector<int> handled;
  herald::worker w(jobs, [&](const job& j) { handled.push_back(j.n); });
  while (w.run_once(std::chrono::system_clock::now()) > 0) {
  }
  CHECK(handled == std::vector<int>{7, 8});
}

TEST_CASE("sqlite store: a file that is not a database gives a clear error", "[queue][sqlite]") {
  herald_test::temp_db db;
  {
    std::ofstream garbage(db.path(), std::ios::binary);
    for (int i = 0; i < 4096; ++i) garbage.put(static_cast<char>(i * 7 + 3));
  }
  auto e = store_error_of([&] { herald::sqlite_store store(db.path()); });
  CHECK(e.code() == herald::errc::storage_corrupt);
  CHECK_FALSE(e.transient());
  CHECK_THAT(std::string(e.what()), herald_test::contains(db.path()));
  CHECK_THAT(std::string(e.what()), herald_test::contains("not an SQLite database or is damaged"));
}

TEST_CASE("sqlite store: a full database refuses sends, loses nothing, and work goes on",
          "[queue][sqlite]") {
  herald_test::temp_db db;
  herald::sqlite_store store(db.path());
  herald::queue<job, herald::sqlite_store> jobs(store, "jobs");
  for (int i = 0; i < 20; ++i) jobs.send(job{i, ""});
  raw_connection other(db.path());
  const long long pages = other.scalar("PRAGMA page_count");
  sqlite3_exec(store.connection(), ("PRAGMA max_page_count = " + std::to_string(pages)).c_str(),
               nullptr, nullptr, nullptr);
  std::vector<job> big(2000, job{999, std::string(200, 'x')});
  auto e = store_error_of([&] { jobs.send_batch(big); });
  CHECK(e.code() == herald::errc::storage_full);
  CHECK(e.transient());
  CHECK_THAT(std::string(e.what()), herald_test::contains("full"));
  CHECK(jobs.stats().depth == 20);  // the failed batch left nothing behind, lost nothing
  std::vector<int> handled;
  herald::worker w(jobs, [&](const job& j) { handled.push_back(j.n); });
  while (w.run_once(std::chrono::system_clock::now()) > 0) {
  }
  CHECK(handled.size() == 20);
  sqlite3_exec(store.connection(), "PRAGMA max_page_count = 1073741823", nullptr, nullptr, nullptr);
  CHECK(jobs.send_batch(big).size() == 2000);
}

TEST_CASE("sqlite store: a lock held past the busy timeout gives a clear error; the worker goes on",
          "[queue][sqlite]") {
  herald_test::temp_db db;
  herald::sqlite_options options;
  options.busy_timeout = 100ms;
  herald::sqlite_store store(db.path(), options);
  herald::queue<job, herald::sqlite_store> jobs(store, "jobs");
  jobs.send(job{1, ""});

  raw_connection other(db.path());
  other.exec("BEGIN IMMEDIATE");  // holds the write lock
  auto e = store_error_of([&] { jobs.send(job{2, ""}); });
  CHECK(e.code() == herald::errc::storage_busy);
  CHECK(e.transient());
  CHECK_THAT(std::string(e.what()), herald_test::contains("busy timeout (100 ms)"));

  herald_test::failure_recorder failures;
  std::atomic<int> handled{0};
  herald::worker_options worker_options;
  worker_options.poll_interval = 10ms;
  worker_options.failures = &failures;
  herald::worker w(
      jobs, [&](const job&) { handled.fetch_add(1); }, worker_options);
  w.start();
  std::this_thread::sleep_for(400ms);  // the worker meets the lock, reports, and waits
  CHECK(handled.load() == 0);
  other.exec("COMMIT");
  for (int i = 0; i < 300 && handled.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  w.stop();
  CHECK(handled.load() == 1);
  CHECK(w.stop_reason().empty());
  auto errors = failures.of(herald::failure_kind::store_failed);
  REQUIRE_FALSE(errors.empty());
  CHECK(errors.front().code == herald::errc::storage_busy);
  CHECK_THAT(errors.front().text, herald_test::contains("busy timeout"));
  CHECK(jobs.stats().depth == 0);
}

TEST_CASE("sqlite store: six processes opening one new file at once all succeed",
          "[queue][sqlite][reliability]") {
  constexpr int processes = 6;
  constexpr int rounds = 60;
  std::vector<std::unique_ptr<herald_test::temp_db>> files;
  for (int r = 0; r < rounds; ++r) files.push_back(std::make_unique<herald_test::temp_db>("open"));
  int start[2];
  REQUIRE(::pipe(start) == 0);
  std::vector<pid_t> children;
  for (int p = 0; p < processes; ++p) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(start[1]);
      char c;
      (void)::read(start[0], &c, 1);  // returns when the parent closes its end: all start at once
      int failures = 0;
      for (int r = 0; r < rounds; ++r) {
        try {
          herald::sqlite_store store(files[static_cast<std::size_t>(r)]->path());
          herald::queue<job, herald::sqlite_store> jobs(store, "jobs");
          jobs.send(job{p, ""});
        } catch (const std::exception& e) {
          std::fprintf(stderr, "process %d, file %d: %s\n", p, r, e.what());
          ++failures;
        }
      }
      std::_Exit(failures > 100 ? 100 : failures);
    }
    children.push_back(pid);
  }
  ::close(start[0]);
  ::close(start[1]);
  int failures = 0;
  for (pid_t pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    failures += WEXITSTATUS(status);
  }
  CHECK(failures == 0);
  for (const auto& file : files) {
    herald::sqlite_store store(file->path());
    herald::queue<job, herald::sqlite_store> jobs(store, "jobs");
    CHECK(jobs.stats().depth == processes);
  }
}

TEST_CASE(
    "sqlite store: a file deleted while open fails loudly instead of taking sends that "
    "would vanish",
    "[queue][sqlite][reliability]") {
  herald_test::temp_db db;
  herald::sqlite_store store(db.path());
  herald::queue<job, herald::sqlite_store> jobs(store, "jobs");
  jobs.send(job{1, ""});
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((db.path() + suffix).c_str());
  auto e = store_error_of([&] { jobs.send(job{2, ""}); });
  CHECK(e.code() == herald::errc::storage_lost);
  CHECK_FALSE(e.transient());
  CHECK_THAT(std::string(e.what()),
             herald_test::contains("deleted or replaced while the store had it open"));
  CHECK(store_error_of([&] { (void)jobs.stats(); }).code() == herald::errc::storage_lost);
  // A worker stops and says why, rather than leasing from a file nobody will see again.
  herald_test::failure_recorder failures;
  herald::worker_options options;
  options.failures = &failures;
  herald::worker w(
      jobs, [](const job&) {}, options);
  w.start();
  for (int i = 0; i < 500 && w.stop_reason().empty(); ++i) std::this_thread::sleep_for(10ms);
  w.stop();
  CHECK_THAT(w.stop_reason(), herald_test::contains("deleted or replaced"));
  CHECK(w.health().state == herald::part_state::stopped);
  CHECK_THAT(w.health().reason, herald_test::contains("deleted or replaced"));
}

TEST_CASE("sqlite store: a read-only file is refused at open, with the reason",
          "[queue][sqlite][reliability]") {
  herald_test::temp_db db;
  { herald::sqlite_store create(db.path()); }
  std::remove((db.path() + "-wal").c_str());
  std::remove((db.path() + "-shm").c_str());
  REQUIRE(::chmod(db.path().c_str(), 0444) == 0);
  // root writes whatever the mode says: open as another user, in a child.
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::geteuid() == 0 && ::setuid(65534) != 0) std::_Exit(2);
    try {
      herald::sqlite_store store(db.path());
    } catch (const herald::store_error& e) {
      std::_Exit(std::string(e.what()).find("opened read-only") != std::string::npos ? 0 : 3);
    }
    std::_Exit(1);  // opened "successfully"
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

namespace {

// A real small filesystem (tmpfs), where the disk really fills: the page
// limit of the test above leaves the WAL room to grow, a full disk does not.
class small_filesystem {
 public:
  explicit small_filesystem(const char* size) {
    dir_ = std::filesystem::temp_directory_path() / ("herald-tmpfs-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    mounted_ =
        ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, (std::string("size=") + size).c_str()) == 0;
  }
  ~small_filesystem() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  small_filesystem(const small_filesystem&) = delete;
  small_filesystem& operator=(const small_filesystem&) = delete;
  [[nodiscard]] bool mounted() const noexcept { return mounted_; }
  [[nodiscard]] std::string file(const char* name) const { return (dir_ / name).string(); }

 private:
  std::filesystem::path dir_;
  bool mounted_ = false;
};

}  // namespace

TEST_CASE(
    "sqlite store: on a really full disk sends are refused and workers still drain "
    "everything",
    "[queue][sqlite][reliability]") {
  small_filesystem disk("3m");
  if (!disk.mounted()) {
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true") FAIL("cannot mount a tmpfs, which this test needs in CI");
    WARN("SKIPPED: cannot mount a tmpfs here (needs root); the real full-disk test did not run");
    return;
  }
  herald::sqlite_options options;
  options.disk_reserve = std::size_t{1} << 20;
  herald::sqlite_store store(disk.file("q.db"), options);
  herald::queue<job, herald::sqlite_store> jobs(store, "jobs");
  int sent = 0;
  herald::store_error full(herald::errc::storage_failed, "");
  for (;; ++sent) {
    try {
      jobs.send(job{sent, std::string(600, 'x')});
    } catch (const herald::store_error& e) {
      full = e;
      break;
    }
  }
  CHECK(full.code() == herald::errc::storage_full);
  REQUIRE(sent > 50);
  std::vector<std::string> errors;
  herald_test::failure_recorder failures;
  herald::worker_options worker_options;
  worker_options.failures = &failures;
  int handled = 0;
  herald::worker w(
      jobs, [&](const job&) { ++handled; }, worker_options);
  for (int i = 0; i < 10 * sent && handled < sent; ++i) {
    try {
      w.run_once(jobs.now());
    } catch (const herald::store_error& e) {
      errors.push_back(e.what());
    }
  }
  INFO("first error: " << (errors.empty() ? "none" : errors.front()));
  CHECK(handled == sent);
  CHECK(errors.empty());
  CHECK(failures.troubles().empty());
  CHECK(jobs.stats().depth + jobs.stats().in_flight == 0);
  // While the reserve cannot be set aside again, sends say why.
  auto refused = store_error_of([&] { jobs.send(job{-1, std::string(600, 'x')}); });
  CHECK(refused.code() == herald::errc::storage_full);
}

TEST_CASE("sqlite store: an in-memory database works and sets no disk reserve aside",
          "[queue][sqlite]") {
  herald::sqlite_store store(":memory:");
  herald::queue<job, herald::sqlite_store> jobs(store, "jobs");
  jobs.send(job{1, ""});
  CHECK(jobs.stats().depth == 1);
  CHECK_FALSE(std::filesystem::exists(":memory:-reserve"));
}
