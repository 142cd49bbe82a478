// SPDX-License-Identifier: MIT
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace herald_bench {

// A fresh database file per benchmark run, removed afterwards.
class scratch_file {
 public:
  explicit scratch_file(const char* name)
      : path_((std::filesystem::temp_directory_path() /
               (std::string("herald-bench-") + name + "-" + std::to_string(::getpid()) + ".db"))
                  .string()) {
    remove();
  }
  ~scratch_file() { remove(); }
  const std::string& path() const { return path_; }

 private:
  void remove() const {
    std::error_code ignored;
    for (const char* suffix : {"", "-wal", "-shm", "-reserve"})
      std::filesystem::remove(path_ + suffix, ignored);
  }
  std::string path_;
};

}  // namespace herald_bench
