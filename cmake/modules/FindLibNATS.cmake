# SPDX-License-Identifier: MIT
# Finds the NATS C client (libnats) and defines LibNATS::LibNATS.
# pkg-config first: Debian's libnats-dev ships a CMake config (cnats) that
# names files the package does not install. A plain search is the fallback.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_LibNATS QUIET libnats)
endif()
find_path(LibNATS_INCLUDE_DIR nats/nats.h HINTS ${PC_LibNATS_INCLUDE_DIRS})
find_library(LibNATS_LIBRARY NAMES nats HINTS ${PC_LibNATS_LIBRARY_DIRS})
set(LibNATS_VERSION "${PC_LibNATS_VERSION}")
if(NOT LibNATS_VERSION AND LibNATS_INCLUDE_DIR AND EXISTS "${LibNATS_INCLUDE_DIR}/nats/version.h")
  file(STRINGS "${LibNATS_INCLUDE_DIR}/nats/version.h" _libnats_version_line
       REGEX "#define NATS_VERSION_STRING")
  string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" LibNATS_VERSION "${_libnats_version_line}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(LibNATS REQUIRED_VARS LibNATS_LIBRARY LibNATS_INCLUDE_DIR
                                  VERSION_VAR LibNATS_VERSION)
if(LibNATS_FOUND AND NOT TARGET LibNATS::LibNATS)
  add_library(LibNATS::LibNATS UNKNOWN IMPORTED)
  set_target_properties(LibNATS::LibNATS PROPERTIES
    IMPORTED_LOCATION "${LibNATS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${LibNATS_INCLUDE_DIR}")
endif()
mark_as_advanced(LibNATS_INCLUDE_DIR LibNATS_LIBRARY)
