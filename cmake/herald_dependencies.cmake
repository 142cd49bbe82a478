# SPDX-License-Identifier: MIT
# Dependencies come from the system first (find_package); FetchContent is the
# fallback for users who lack them. Our own builds use Debian's packages.
include(FetchContent)

FetchContent_Declare(fmt
  GIT_REPOSITORY https://github.com/fmtlib/fmt.git
  GIT_TAG 10.2.1
  FIND_PACKAGE_ARGS 9)
FetchContent_Declare(nlohmann_json
  URL https://github.com/nlohmann/json/releases/download/v3.11.3/json.tar.xz
  FIND_PACKAGE_ARGS 3.10)
FetchContent_MakeAvailable(fmt nlohmann_json)
