# SPDX-License-Identifier: MIT
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# vcpkg wants share/herald; the default is where CMake's own search looks first.
set(HERALD_INSTALL_CMAKEDIR "${CMAKE_INSTALL_DATADIR}/cmake/herald" CACHE STRING
    "Where herald's CMake package files are installed, relative to the prefix")
set(herald_config_dir "${HERALD_INSTALL_CMAKEDIR}")

install(TARGETS herald EXPORT herald-targets FILE_SET HEADERS)
get_property(herald_backends GLOBAL PROPERTY herald_backends)
foreach(backend IN LISTS herald_backends)
  install(TARGETS herald_${backend} EXPORT herald-targets FILE_SET HEADERS)
endforeach()
install(EXPORT herald-targets NAMESPACE herald:: DESTINATION "${herald_config_dir}")

set(herald_installed_backends ${herald_backends})
configure_package_config_file(cmake/herald-config.cmake.in
  "${PROJECT_BINARY_DIR}/herald-config.cmake" INSTALL_DESTINATION "${herald_config_dir}")
# Header-only: the package fits any architecture.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/herald-config-version.cmake"
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/herald-config.cmake"
              "${PROJECT_BINARY_DIR}/herald-config-version.cmake"
        DESTINATION "${herald_config_dir}")
# herald::nats finds libnats through this module (Debian's own CMake config for it is broken).
install(FILES cmake/modules/FindLibNATS.cmake DESTINATION "${herald_config_dir}")
install(FILES LICENSE DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/herald")
