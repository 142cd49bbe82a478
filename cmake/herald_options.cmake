# SPDX-License-Identifier: MIT
# Tests and benchmarks are on by default at the top level only when their
# frameworks are installed, so that a plain configure (to install herald, say)
# never fails for want of Catch2. Asking for them (-D…=ON) makes them required.
# A macro, not a function: what find_package sets up (Catch2's module path
# for catch_discover_tests, say) must reach the caller.
macro(herald_default_option option description package)
  if(DEFINED ${option} OR NOT PROJECT_IS_TOP_LEVEL)
    option(${option} "${description}" OFF)
  else()
    find_package(${package} QUIET)
    if(${package}_FOUND)
      option(${option} "${description}" ON)
    else()
      option(${option} "${description}" OFF)
      message(STATUS "herald: ${package} not found, so ${option} is OFF "
                     "(install it, or pass -D${option}=ON to require it)")
    endif()
  endif()
endmacro()

herald_default_option(HERALD_BUILD_TESTS "Build herald's tests" Catch2)
herald_default_option(HERALD_BUILD_BENCHMARKS "Build herald's benchmarks" benchmark)
option(HERALD_BUILD_EXAMPLES "Build herald's examples" ${PROJECT_IS_TOP_LEVEL})
option(HERALD_BUILD_FUZZERS "Build libFuzzer targets (needs clang)" OFF)
option(HERALD_INSTALL "Generate herald's install rules" ${PROJECT_IS_TOP_LEVEL})
# Our dev preset and CI turn this on; a user's build never fails on a warning
# a newer compiler invents.
option(HERALD_WARNINGS_AS_ERRORS "Treat warnings in herald's own tests and examples as errors" OFF)

# Our own builds (herald at the top level) compile through ccache when it is
# installed, so that a developer's rebuilds and the configurations CI builds
# one after another skip what did not change. Never in a project that pulls
# herald in, and never when the caller chose a launcher. The sloppiness lets
# ccache cache sources compiled with the tests' precompiled header.
if(PROJECT_IS_TOP_LEVEL AND NOT DEFINED CMAKE_CXX_COMPILER_LAUNCHER)
  find_program(HERALD_CCACHE ccache)
  if(HERALD_CCACHE)
    set(CMAKE_CXX_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env
        CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
        CCACHE_BASEDIR=${PROJECT_SOURCE_DIR} ${HERALD_CCACHE})
  endif()
endif()
