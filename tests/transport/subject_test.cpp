// SPDX-License-Identifier: MIT
#include <herald/transport/subject.hpp>
#include <string>

#include "catch.hpp"

TEST_CASE("subjects: tokens of printable ASCII separated by single dots", "[transport][subject]") {
  CHECK_NOTHROW(herald::validate_subject("orders"));
  CHECK_NOTHROW(herald::validate_subject("orders.placed.eu-west_1"));
  CHECK_NOTHROW(herald::validate_subject(std::string(256, 'a')));
  struct bad {
    std::string subject;
    bool for_subscribe;
    const char* says;
  };
  const bad cases[] = {
      {"", false, "is empty"},
      {"orders..placed", false,
       "has an empty token at position 7; tokens are separated by single dots"},
      {".orders", false, "empty token at position 0"},
      {"orders.", false, "empty token at position 7"},
      {"orders placed", false, "space or a non-printable character at position 6"},
      {"orders.\x01", false, "non-printable"},
      {std::string(257, 'a'), false, "257 characters long; the limit is 256"},
      {"orders.*", false, "wildcards are for subscribing"},
      {"orders.>", false, "wildcards are for subscribing"},
      {"orders.pl*", true, "'*' and '>' must be whole tokens"},
      {"orders.>.x", true, "'>' matches the rest and must come last"},
  };
  for (const auto& c : cases) {
    INFO(c.subject);
    try {
      herald::validate_subject(c.subject, c.for_subscribe);
      FAIL("accepted");
    } catch (const herald::error& e) {
      CHECK(e.code() == herald::errc::invalid_argument);
      CHECK_THAT(e.what(), herald_test::contains(c.says));
    }
  }
  CHECK_NOTHROW(herald::validate_subject("orders.*.eu", true));
  CHECK_NOTHROW(herald::validate_subject("orders.>", true));
}

TEST_CASE("subject filters: '*' is one token, '>' one or more at the end", "[transport][subject]") {
  using herald::subject_matches;
  CHECK(subject_matches("a.b.c", "a.b.c"));
  CHECK_FALSE(subject_matches("a.b.c", "a.b"));
  CHECK_FALSE(subject_matches("a.b", "a.b.c"));
  CHECK(subject_matches("a.*.c", "a.x.c"));
  CHECK_FALSE(subject_matches("a.*.c", "a.x.y.c"));
  CHECK(subject_matches("a.*", "a.x"));
  CHECK_FALSE(subject_matches("a.*", "a"));
  CHECK(subject_matches("a.>", "a.x"));
  CHECK(subject_matches("a.>", "a.x.y.z"));
  CHECK_FALSE(subject_matches("a.>", "a"));
  CHECK(subject_matches(">", "anything.at.all"));
  CHECK(subject_matches("*.*", "a.b"));
  CHECK_FALSE(subject_matches("ab", "a"));
}
