# SPDX-License-Identifier: MIT
# Every ```cpp block of a document that is followed by "This is `<file>`"
# must be that file, without its leading comment lines: the file is built
# and run by the test suite, so the snippet stays true.
# Run: cmake -DDOC=README.md -DROOT=<source dir> -P check_snippets.cmake
# (Strings, not lists: C++ is full of the semicolons that split CMake lists.)
file(READ "${ROOT}/${DOC}" text)
set(checked 0)
set(marker "```\n\nThis is `")
string(FIND "${text}" "${marker}" at)
while(NOT at EQUAL -1)
  string(SUBSTRING "${text}" 0 ${at} before)
  string(FIND "${before}" "```cpp\n" open REVERSE)
  math(EXPR code_start "${open} + 7")
  math(EXPR code_length "${at} - ${code_start}")
  string(SUBSTRING "${text}" ${code_start} ${code_length} code)
  string(LENGTH "${marker}" marker_length)
  math(EXPR path_start "${at} + ${marker_length}")
  string(SUBSTRING "${text}" ${path_start} -1 text)
  string(FIND "${text}" "`" path_end)
  string(SUBSTRING "${text}" 0 ${path_end} path)
  file(READ "${ROOT}/${path}" source)
  string(REGEX REPLACE "^(//[^\n]*\n)+" "" source "${source}")
  if(NOT code STREQUAL source)
    file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/snippet.cpp" "${code}")
    message(FATAL_ERROR "${DOC}: the snippet before \"This is `${path}`\" differs from that file "
                        "(its leading comments aside); copy the file into the snippet "
                        "(diff ${CMAKE_CURRENT_BINARY_DIR}/snippet.cpp ${ROOT}/${path})")
  endif()
  math(EXPR checked "${checked} + 1")
  string(FIND "${text}" "${marker}" at)
endwhile()
if(checked EQUAL 0)
  message(FATAL_ERROR "${DOC}: no snippet followed by \"This is `<file>`\" was found")
endif()
message(STATUS "${DOC}: ${checked} snippet(s) match their files")
