// SPDX-License-Identifier: MIT
#pragma once

// What the crash tests share: spawning the process they kill (the queue
// worker of tests/queue/crash_child.cpp, or another child), and reading the
// log the worker writes, one line per handled message, before each ack.

#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "catch.hpp"

extern char** environ;

namespace herald_test {

// Starts the child at `self` with `args` (after its own path).
inline pid_t spawn_crash_child(std::vector<std::string> args, std::string self) {
  std::vector<char*> argv{self.data()};
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv.data(), environ) == 0);
  return pid;
}

inline int wait_for(pid_t pid) {
  int status = 0;
  pid_t got = -1;
  do {
    got = waitpid(pid, &status, 0);
  } while (got < 0 && errno == EINTR);
  INFO("waitpid(" << pid << "): " << std::strerror(errno));
  REQUIRE(got == pid);
  return status;
}

inline void require_clean_exit(int status) {
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

struct handled_record {
  long long pid, n, start, end;
};

inline std::vector<handled_record> read_log(const std::string& path) {
  std::vector<handled_record> out;
  std::ifstream in(path);
  handled_record r{};
  while (in >> r.pid >> r.n >> r.start >> r.end) out.push_back(r);
  return out;
}

}  // namespace herald_test
