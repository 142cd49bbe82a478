// SPDX-License-Identifier: MIT
#include <herald/transport/concepts.hpp>

struct redis_streams {
  using transport_concept = herald::transport_tag;
  herald::publish_result publish(std::string_view, herald::wire_message) { return {}; }
};

static_assert(herald::detail::check_transport<redis_streams>());
