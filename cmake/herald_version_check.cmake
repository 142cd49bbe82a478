# SPDX-License-Identifier: MIT
# version.hpp and project(VERSION) must agree: installed packages carry both.
file(READ "${PROJECT_SOURCE_DIR}/include/herald/version.hpp" herald_version_header)
foreach(part MAJOR MINOR PATCH)
  string(REGEX MATCH "HERALD_VERSION_${part} ([0-9]+)" _ "${herald_version_header}")
  list(APPEND herald_header_version "${CMAKE_MATCH_1}")
endforeach()
list(JOIN herald_header_version "." herald_header_version)
if(NOT herald_header_version VERSION_EQUAL PROJECT_VERSION)
  message(FATAL_ERROR "herald: include/herald/version.hpp says ${herald_header_version} but "
                      "CMakeLists.txt says ${PROJECT_VERSION}; make them equal")
endif()
