// SPDX-License-Identifier: MIT
#include <herald/event.hpp>

#include "catch.hpp"

namespace {

struct order_placed {
  static constexpr std::string_view event_type = "shop.order.placed";
  int id = 0;
};

struct order_shipped {
  [[maybe_unused]] static constexpr std::string_view event_type = "shop.order.shipped";
  static constexpr std::uint32_t event_version = 3;
};

struct foreign_event {
  int value = 0;
};

struct not_an_event {
  int value = 0;
};

struct badly_named {
  static constexpr std::string_view event_type = "Shop.Order";
};

struct move_only {
  [[maybe_unused]] static constexpr std::string_view event_type = "shop.move.only";
  move_only() = default;
  move_only(move_only&&) = default;
  move_only(const move_only&) = delete;
};

}  // namespace

template <>
struct herald::event_traits<foreign_event> {
  static constexpr std::string_view type = "vendor.thing.happened";
  static constexpr std::uint32_t version = 2;
};

TEST_CASE("an event names itself with a static member or event_traits", "[event]") {
  STATIC_REQUIRE(herald::event<order_placed>);
  STATIC_REQUIRE(herald::event_type_v<order_placed> == "shop.order.placed");
  STATIC_REQUIRE(herald::event_version_v<order_placed> == 1);
  STATIC_REQUIRE(herald::event_version_v<order_shipped> == 3);
  STATIC_REQUIRE(herald::event<foreign_event>);
  STATIC_REQUIRE(herald::event_type_v<foreign_event> == "vendor.thing.happened");
  STATIC_REQUIRE(herald::event_version_v<foreign_event> == 2);
}

TEST_CASE("a type without a valid name, or that cannot be copied, is not an event", "[event]") {
  STATIC_REQUIRE_FALSE(herald::event<not_an_event>);
  STATIC_REQUIRE_FALSE(herald::event<badly_named>);
  STATIC_REQUIRE_FALSE(herald::event<move_only>);
  STATIC_REQUIRE_FALSE(herald::event<int>);
  STATIC_REQUIRE_FALSE(herald::event<const order_placed>);
}

TEST_CASE("event type names are dotted lowercase", "[event]") {
  using herald::detail::is_valid_event_type;
  STATIC_REQUIRE(is_valid_event_type("shop.order.placed"));
  STATIC_REQUIRE(is_valid_event_type("a.b"));
  STATIC_REQUIRE(is_valid_event_type("io.github.pull_request-v2.opened"));
  STATIC_REQUIRE_FALSE(is_valid_event_type(""));
  STATIC_REQUIRE_FALSE(is_valid_event_type("order"));         // no namespace
  STATIC_REQUIRE_FALSE(is_valid_event_type("shop..placed"));  // empty segment
  STATIC_REQUIRE_FALSE(is_valid_event_type(".shop.placed"));
  STATIC_REQUIRE_FALSE(is_valid_event_type("shop.placed."));
  STATIC_REQUIRE_FALSE(is_valid_event_type("Shop.placed"));   // uppercase
  STATIC_REQUIRE_FALSE(is_valid_event_type("shop.1placed"));  // segment starts with a digit
  STATIC_REQUIRE_FALSE(is_valid_event_type("shop.or der"));
}
