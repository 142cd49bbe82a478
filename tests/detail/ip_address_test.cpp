// SPDX-License-Identifier: MIT
#include <herald/detail/ip_address.hpp>

#include "catch.hpp"

using herald::detail::parse_cidr;
using herald::detail::parse_ip;

TEST_CASE("IP addresses parse in their usual text forms, and only those", "[detail][ip]") {
  for (const char* good : {"0.0.0.0", "255.255.255.255", "10.0.0.1", "::", "::1", "1::",
                           "2001:db8::ff00:42:8329", "2001:0db8:0000:0000:0000:ff00:0042:8329",
                           "::ffff:192.0.2.1", "fe80::1:2:3:4:5", "1:2:3:4:5:6:7:8"}) {
    INFO(good);
    CHECK(parse_ip(good));
  }
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1..2.3", "1.2.3.4 ",
                          ":::", "1:::2", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "g::1",
                          "1:", ":1", "::1.2.3", "1:2:3:4:5:6:7:1.2.3.4"}) {
    INFO(bad);
    CHECK_FALSE(parse_ip(bad));
  }
}

TEST_CASE("IPv6 forms that mean the same address compare equal", "[detail][ip]") {
  CHECK(parse_ip("2001:db8::1")->bytes == parse_ip("2001:0db8:0:0:0:0:0:1")->bytes);
  CHECK(parse_ip("::ffff:10.0.0.1")->bytes == parse_ip("::ffff:a00:1")->bytes);
}

TEST_CASE("a CIDR block contains exactly the addresses under its prefix", "[detail][ip]") {
  auto block = parse_cidr("172.16.0.0/12");
  REQUIRE(block);
  CHECK(block->contains(*parse_ip("172.16.0.1")));
  CHECK(block->contains(*parse_ip("172.31.255.255")));
  CHECK_FALSE(block->contains(*parse_ip("172.32.0.0")));
  auto odd = parse_cidr("2001:db8:8000::/33");
  REQUIRE(odd);
  CHECK(odd->contains(*parse_ip("2001:db8:ffff::1")));
  CHECK_FALSE(odd->contains(*parse_ip("2001:db8:7fff::1")));
  CHECK_FALSE(parse_cidr("10.0.0.0/"));
  CHECK_FALSE(parse_cidr("10.0.0.0/x"));
  CHECK_FALSE(parse_cidr("10.0.0.0/1000"));
}

TEST_CASE("an IPv4 address and its IPv4-mapped IPv6 form are one address to a CIDR block",
          "[detail][ip][reliability]") {
  auto v4_block = parse_cidr("10.0.0.0/24");
  REQUIRE(v4_block);
  CHECK(v4_block->contains(*parse_ip("::ffff:10.0.0.7")));
  CHECK(v4_block->contains(*parse_ip("::ffff:a00:7")));
  CHECK_FALSE(v4_block->contains(*parse_ip("::ffff:10.0.1.7")));
  CHECK_FALSE(
      v4_block->contains(*parse_ip("::10.0.0.7")));  // IPv4-compatible, deprecated: not mapped
  CHECK_FALSE(parse_cidr("0.0.0.0/0")->contains(*parse_ip("2001:db8::1")));
  auto mapped_block = parse_cidr("::ffff:10.0.0.0/120");
  REQUIRE(mapped_block);
  CHECK(mapped_block->contains(*parse_ip("10.0.0.7")));
  CHECK_FALSE(mapped_block->contains(*parse_ip("10.0.1.7")));
}
