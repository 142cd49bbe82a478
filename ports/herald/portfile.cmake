# SPDX-License-Identifier: MIT
# vcpkg port of herald (header-only). Use it as an overlay port:
#   vcpkg install herald[sqlite,postgres,nats] --overlay-ports=<herald>/ports
# scripts/check-packaging runs the CMake configure and install below with
# plain CMake in CI (vcpkg itself cannot be installed there).
set(VCPKG_BUILD_TYPE release)  # header-only: one configuration is all there is

vcpkg_from_github(
  OUT_SOURCE_PATH SOURCE_PATH
  REPO herald-events/herald
  REF "v${VERSION}"
  SHA512 0
  HEAD_REF main)

vcpkg_check_features(OUT_FEATURE_OPTIONS feature_options
  FEATURES
    sqlite HERALD_WITH_SQLITE  # -DHERALD_WITH_SQLITE=ON or OFF
    postgres HERALD_WITH_POSTGRES
    nats HERALD_WITH_NATS)

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    # herald options: begin (scripts/check-packaging reads these lines)
    -DHERALD_BUILD_TESTS=OFF
    -DHERALD_BUILD_EXAMPLES=OFF
    -DHERALD_BUILD_BENCHMARKS=OFF
    -DHERALD_INSTALL=ON
    -DHERALD_INSTALL_CMAKEDIR=share/herald
    # herald options: end
    ${feature_options})

vcpkg_cmake_install()
vcpkg_cmake_config_fixup(CONFIG_PATH share/herald)
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug" "${CURRENT_PACKAGES_DIR}/lib")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
