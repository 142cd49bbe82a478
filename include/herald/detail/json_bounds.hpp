// SPDX-License-Identifier: MIT
#pragma once

#include <cmath>              // std::isfinite: JSON has no NaN or infinity
#include <cstddef>            // depths
#include <nlohmann/json.hpp>  // the DOM and its SAX builder
#include <string>             // error text
#include <string_view>        // attribute names
#include <utility>            // std::pair
#include <vector>             // the walk over data, without recursion

#include "herald/error.hpp"

namespace herald::detail {

// JSON held within decode_limits on both sides: the encoder walks what it is
// about to write, the decoder bounds the DOM it builds while parsing.

[[noreturn]] inline void throw_invalid(std::string_view attribute, const std::string& rule) {
  throw error(errc::invalid_argument,
              "cannot encode: attribute '" + std::string(attribute) + "' " + rule);
}

[[noreturn]] inline void throw_too_big(const std::string& what) {
  throw error(errc::limit_exceeded,
              "cannot encode: the event " + what +
                  " that its consumers decode; send a reference to the payload instead, or "
                  "raise the limit on both sides (queue_options::limits, topic_options::limits)");
}

// Iterative, because data may be deeper than recursion could survive: every
// object or array must sit within the depth limit (the envelope is depth 1,
// so data's own object is 2), and every number must be finite, since JSON
// has no NaN or infinity (nlohmann would write them as null).
inline void check_data(const nlohmann::json& data, std::size_t max_depth) {
  std::vector<std::pair<const nlohmann::json*, std::size_t>> pending{{&data, 2}};
  while (!pending.empty()) {
    auto [v, depth] = pending.back();
    pending.pop_back();
    if (v->is_structured()) {
      if (depth > max_depth) {
        throw_too_big("nests objects and arrays deeper than decode_limits::max_depth (" +
                      std::to_string(max_depth) + ")");
      }
      for (const auto& child : *v) pending.emplace_back(&child, depth + 1);
    } else if (v->is_number_float() && !std::isfinite(v->get<double>())) {
      throw_invalid("data", "holds a number that is NaN or infinite, which JSON cannot carry");
    }
  }
}

// A DOM builder that refuses to nest deeper than the limit, so the depth is
// bounded while parsing rather than checked after.
class depth_limited_dom : public nlohmann::detail::json_sax_dom_parser<nlohmann::json> {
  using base = nlohmann::detail::json_sax_dom_parser<nlohmann::json>;

 public:
  depth_limited_dom(nlohmann::json& out, std::size_t max_depth)
      : base(out, true), max_depth_(max_depth) {}

  bool start_object(std::size_t n) { return enter() && base::start_object(n); }
  bool start_array(std::size_t n) { return enter() && base::start_array(n); }
  bool end_object() {
    --depth_;
    return base::end_object();
  }
  bool end_array() {
    --depth_;
    return base::end_array();
  }
  // "1e400" parses as infinity, which no encoder can write back: refuse it
  // here, so that what decodes always encodes again.
  bool number_float(nlohmann::json::number_float_t v, const std::string& text) {
    if (!std::isfinite(v)) {
      not_finite_ = text;
      return false;
    }
    return base::number_float(v, text);
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    syntax_error_ = e.what();  // nlohmann's text already gives line, column and token
    return false;
  }

  [[nodiscard]] bool too_deep() const noexcept { return too_deep_; }
  [[nodiscard]] const std::string& not_finite() const noexcept { return not_finite_; }
  [[nodiscard]] const std::string& syntax_error() const noexcept { return syntax_error_; }

 private:
  bool enter() {
    if (++depth_ > max_depth_) {
      too_deep_ = true;
      return false;
    }
    return true;
  }

  std::size_t max_depth_;
  std::size_t depth_ = 0;
  bool too_deep_ = false;
  std::string syntax_error_;
  std::string not_finite_;
};

}  // namespace herald::detail
