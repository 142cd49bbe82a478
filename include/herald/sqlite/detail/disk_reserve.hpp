// SPDX-License-Identifier: MIT
#pragma once

#include <fcntl.h>     // open, posix_fallocate
#include <sys/stat.h>  // stat
#include <unistd.h>    // close, unlink

#include <chrono>   // how often a missing reserve is looked for again
#include <cstddef>  // sizes
#include <string>   // the reserve file's path

namespace herald::detail::sqlite {

// Space set aside beside the database file, so that a full disk cannot stop
// the draining: in WAL mode an ack is a write too, and on a disk with no
// room left nothing could be settled any more. When a settling write meets
// a full disk, the store releases the reserve (deletes the file), which
// frees room for one checkpoint; after it the WAL is rewound and reused in
// place, so draining needs no more space. Sends are refused while the
// reserve is missing, and resume once there is room to set it aside again.
// Shared by every process on the file through its one path.
class disk_reserve {
 public:
  disk_reserve() = default;
  disk_reserve(std::string path, std::size_t bytes) : path_(std::move(path)), bytes_(bytes) {
    if (bytes_ > 0) present_ = exists() || create();
  }

  // An in-memory, temporary or URI database has no plain file to set space
  // aside beside.
  [[nodiscard]] static bool applies(const std::string& path, std::size_t bytes) noexcept {
    return bytes > 0 && !path.empty() && path != ":memory:" && path.rfind("file:", 0) != 0;
  }

  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }

  // Frees the space; true if there was a reserve to free.
  bool release() noexcept {
    if (bytes_ == 0 || ::unlink(path_.c_str()) != 0) return false;
    present_ = false;
    next_look_ = {};
    return true;
  }

  // Whether the reserve is in place, making it again if it is missing and
  // there is room. Looks at the disk at most every quarter second.
  bool ensure() {
    if (bytes_ == 0) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_look_) return present_;
    next_look_ = now + std::chrono::milliseconds(250);
    present_ = exists() || create();
    return present_;
  }

 private:
  bool exists() const noexcept {
    struct stat s {};
    return ::stat(path_.c_str(), &s) == 0 && static_cast<std::size_t>(s.st_size) >= bytes_;
  }

  bool create() noexcept {
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    const bool ok = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes_)) == 0;
    ::close(fd);
    if (!ok) ::unlink(path_.c_str());  // a partial reserve would hold space it cannot promise
    return ok;
  }

  std::string path_;
  std::size_t bytes_ = 0;
  bool present_ = false;
  std::chrono::steady_clock::time_point next_look_{};
};

}  // namespace herald::detail::sqlite
