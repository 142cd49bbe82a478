# SPDX-License-Identifier: MIT
# Each backend lives in include/herald/<name>/, is the target herald::<name>
# with its own header set, and is installed as the component <name>. The
# core target holds every other header.
set(herald_backend_names sqlite postgres nats)

file(GLOB_RECURSE herald_headers CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/include/herald/*.hpp")
list(JOIN herald_backend_names "|" herald_backend_regex)
list(FILTER herald_headers EXCLUDE REGEX "/include/herald/(${herald_backend_regex})/")

# herald_add_backend(<name> <client library target>...)
function(herald_add_backend name)
  add_library(herald_${name} INTERFACE)
  add_library(herald::${name} ALIAS herald_${name})
  set_target_properties(herald_${name} PROPERTIES EXPORT_NAME ${name})
  file(GLOB_RECURSE headers CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/include/herald/${name}/*.hpp")
  target_sources(herald_${name} INTERFACE
    FILE_SET HEADERS BASE_DIRS "${PROJECT_SOURCE_DIR}/include" FILES ${headers})
  target_link_libraries(herald_${name} INTERFACE herald ${ARGN})
  set_property(GLOBAL APPEND PROPERTY herald_backends ${name})
endfunction()

# herald_backend_option(<name> <package> <debian package>): sets HERALD_WITH_<NAME>
# to a true value when the backend is to be built.
function(herald_backend_option name package debian)
  string(TOUPPER "${name}" upper)
  set(HERALD_WITH_${upper} AUTO CACHE STRING "Build herald::${name}: AUTO, ON or OFF")
  set_property(CACHE HERALD_WITH_${upper} PROPERTY STRINGS AUTO ON OFF)
  set(choice "${HERALD_WITH_${upper}}")
  if(choice STREQUAL "AUTO")
    find_package(${package})
    if(NOT ${package}_FOUND)
      message(STATUS "herald: ${package} not found, so herald::${name} is not built "
                     "(Debian: ${debian}; -DHERALD_WITH_${upper}=ON to require it)")
    endif()
    if(${package}_FOUND)
      set(build ON)
    else()
      set(build OFF)  # never the cache's "AUTO", which if() would read as true
    endif()
  elseif(choice)
    find_package(${package} REQUIRED)
    set(build ON)
  else()
    set(build OFF)
  endif()
  set(HERALD_WITH_${upper} ${build} PARENT_SCOPE)
endfunction()
