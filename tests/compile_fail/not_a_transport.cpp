// SPDX-License-Identifier: MIT
#include <herald/topic/topic.hpp>

struct order_placed {
  static constexpr std::string_view event_type = "shop.order.placed";
};
void to_json(nlohmann::json& j, const order_placed&) { j = nlohmann::json::object(); }
void from_json(const nlohmann::json&, order_placed&) {}

struct redis_streams {  // publish and subscribe, but no opt-in tag
  herald::publish_result publish(std::string_view, herald::wire_message) { return {}; }
};

void misuse(redis_streams& t) { herald::topic<order_placed, redis_streams> orders(t, "orders"); }
