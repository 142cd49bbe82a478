// SPDX-License-Identifier: MIT
#pragma once

// The library's version, kept equal to project(VERSION) in CMakeLists.txt
// (a configure-time check enforces it).
#define HERALD_VERSION_MAJOR 0
#define HERALD_VERSION_MINOR 1
#define HERALD_VERSION_PATCH 0

namespace herald {
inline constexpr int version_major = HERALD_VERSION_MAJOR;
inline constexpr int version_minor = HERALD_VERSION_MINOR;
inline constexpr int version_patch = HERALD_VERSION_PATCH;
}  // namespace herald
