// SPDX-License-Identifier: MIT
#pragma once

#include <fcntl.h>   // a non-blocking write end
#include <signal.h>  // sigaction
#include <unistd.h>  // pipe, read, write

#include <atomic>        // the handler's target
#include <cerrno>        // EINTR
#include <system_error>  // a pipe that cannot be made

namespace herald::detail {

// A pipe one thread blocks on until another thread, or a signal handler,
// posts: write(2) is async-signal-safe, a condition variable is not.
class wakeup_pipe {
 public:
  wakeup_pipe() {
    if (::pipe(fds_) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    ::fcntl(fds_[1], F_SETFL, ::fcntl(fds_[1], F_GETFL) | O_NONBLOCK);
  }
  wakeup_pipe(const wakeup_pipe&) = delete;
  wakeup_pipe& operator=(const wakeup_pipe&) = delete;
  ~wakeup_pipe() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }

  void post() const noexcept { post_to(fds_[1]); }
  static void post_to(int fd) noexcept {
    const char byte = 1;
    [[maybe_unused]] auto ignored = ::write(fd, &byte, 1);  // full: a wake is pending anyway
  }

  void wait() const noexcept {
    char byte = 0;
    while (::read(fds_[0], &byte, 1) < 0 && errno == EINTR) {
    }
  }

  [[nodiscard]] int write_end() const noexcept { return fds_[1]; }
  /// For poll(2) beside other descriptors; wait() once it is readable.
  [[nodiscard]] int read_end() const noexcept { return fds_[0]; }

 private:
  int fds_[2] = {-1, -1};
};

// Turns SIGINT and SIGTERM into a post on one pipe while it lives, then
// restores the handlers that were there before.
class stop_signals {
 public:
  explicit stop_signals(const wakeup_pipe& target) {
    target_fd().store(target.write_end());
    struct sigaction action {};
    action.sa_handler = &on_signal;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, &previous_int_);
    ::sigaction(SIGTERM, &action, &previous_term_);
  }
  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;
  ~stop_signals() {
    ::sigaction(SIGINT, &previous_int_, nullptr);
    ::sigaction(SIGTERM, &previous_term_, nullptr);
    target_fd().store(-1);
  }

 private:
  static std::atomic<int>& target_fd() noexcept {
    static std::atomic<int> fd{-1};
    return fd;
  }
  static void on_signal(int) noexcept {
    const int saved = errno;
    if (const int fd = target_fd().load(); fd >= 0) wakeup_pipe::post_to(fd);
    errno = saved;
  }
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
};

}  // namespace herald::detail
