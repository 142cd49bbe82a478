// SPDX-License-Identifier: MIT
// Input: a filter, a NUL byte, a subject. Validation throws only
// herald::error; a subject always matches itself, and `>` matches any valid subject.
#include <cstdint>
#include <cstdlib>
#include <herald/transport/subject.hpp>
#include <string_view>

namespace {

bool valid(std::string_view s, bool for_subscribe) {
  try {
    herald::validate_subject(s, for_subscribe);
    return true;
  } catch (const herald::error&) {
    return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t split = input.find('\0');
  std::string_view filter = input.substr(0, split);
  std::string_view subject = split == std::string_view::npos ? input : input.substr(split + 1);
  const bool filter_ok = valid(filter, true);
  const bool subject_ok = valid(subject, false);
  if (subject_ok && !valid(subject, true)) std::abort();  // a publish subject is a filter too
  if (subject_ok && !herald::subject_matches(subject, subject)) std::abort();
  if (subject_ok && !herald::subject_matches(">", subject)) std::abort();
  if (filter_ok && subject_ok) (void)herald::subject_matches(filter, subject);
  return 0;
}
