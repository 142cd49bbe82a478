// SPDX-License-Identifier: MIT
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <herald/id.hpp>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "catch.hpp"

TEST_CASE("new ids are RFC 9562 version 7 with the current Unix milliseconds", "[id]") {
  auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  herald::uuid id = herald::uuid::new_v7();
  auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  CHECK(id.version() == 7);
  CHECK((id.bytes[8] & 0xc0) == 0x80);  // variant 10
  CHECK(id.unix_ms() >= static_cast<std::uint64_t>(before));
  CHECK(id.unix_ms() <= static_cast<std::uint64_t>(after) + 1);  // +1: borrowed millisecond

  std::string text = id.to_string();
  REQUIRE(text.size() == 36);
  CHECK(text[14] == '7');
  herald::uuid parsed;
  REQUIRE(herald::uuid::parse(text, parsed));
  CHECK(parsed == id);
}

TEST_CASE("ids from one thread strictly increase, even within one millisecond", "[id]") {
  std::string previous = herald::new_id();
  for (int i = 0; i < 100000; ++i) {
    std::string next = herald::new_id();
    REQUIRE(previous < next);
    previous = std::move(next);
  }
}

TEST_CASE("ids from many threads never collide", "[id]") {
  std::mutex mutex;
  std::set<std::string> all;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::vector<std::string> mine;
      for (int i = 0; i < 20000; ++i) mine.push_back(herald::new_id());
      std::lock_guard lock(mutex);
      all.insert(mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  CHECK(all.size() == 80000);
}

TEST_CASE("a forked child does not repeat its parent's ids", "[id]") {
  (void)herald::new_id();  // the parent's generator is seeded before the fork
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::string id = herald::new_id();
    (void)!::write(pipe_fds[1], id.data(), id.size());
    ::_exit(0);
  }
  std::string parent_id = herald::new_id();
  char buffer[36];
  REQUIRE(::read(pipe_fds[0], buffer, sizeof buffer) == 36);
  ::waitpid(child, nullptr, 0);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  // Same millisecond and same state would give the same counter and tail.
  CHECK(std::string(buffer, 36).substr(14) != parent_id.substr(14));
}

TEST_CASE("uuid::parse rejects anything but the 8-4-4-4-12 hex form", "[id]") {
  herald::uuid out;
  CHECK(herald::uuid::parse("0190f5c8-7e3a-7b2c-9d4e-5f6a7b8c9d0e", out));
  CHECK(herald::uuid::parse("0190F5C8-7E3A-7B2C-9D4E-5F6A7B8C9D0E", out));
  CHECK_FALSE(herald::uuid::parse("", out));
  CHECK_FALSE(herald::uuid::parse("0190f5c87e3a7b2c9d4e5f6a7b8c9d0e", out));
  CHECK_FALSE(herald::uuid::parse("0190f5c8-7e3a-7b2c-9d4e-5f6a7b8c9d0g", out));
  CHECK_FALSE(herald::uuid::parse("0190f5c8+7e3a-7b2c-9d4e-5f6a7b8c9d0e", out));
}
