// SPDX-License-Identifier: MIT
#pragma once

// A misuse that ends the process, tried in a child so that the test survives it.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "catch.hpp"

namespace herald_test {

struct child_end {
  std::string stderr_text;  // what the child wrote to stderr
  int status = 0;           // as waitpid gives it

  // Stopped by a signal or a failing exit (TSan turns abort() into an exit code), not finished.
  [[nodiscard]] bool stopped() const {
    return WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
  }
};

// Runs `fn` in a forked child with its stderr captured; the child exits 0 if fn returns.
template <class Fn>
child_end run_in_child(Fn&& fn) {
  int err[2];
  REQUIRE(::pipe(err) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(err[1], 2);
    fn();
    std::_Exit(0);
  }
  ::close(err[1]);
  child_end end;
  char buffer[512];
  for (ssize_t n; (n = ::read(err[0], buffer, sizeof buffer)) > 0;)
    end.stderr_text.append(buffer, static_cast<std::size_t>(n));
  ::close(err[0]);
  REQUIRE(::waitpid(pid, &end.status, 0) == pid);
  return end;
}

}  // namespace herald_test
