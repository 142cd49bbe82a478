// SPDX-License-Identifier: MIT
#pragma once

#include <cmath>              // std::isfinite: JSON has no NaN or infinity
#include <cstddef>            // depths
#include <nlohmann/json.hpp>  // the DOM and its SAX builder
#include <optional>           // the duplicated member, if any
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

// The DOM builder of the decoder (a SAX handler of its own, not nlohmann's):
// it refuses to nest deeper than the limit, so the depth is bounded while
// parsing rather than checked after; refuses infinities; and refuses an
// object that names a member twice, which nlohmann would resolve silently by
// keeping the last, so that two parsers could read two different events.
class depth_limited_dom {
 public:
  depth_limited_dom(nlohmann::json& out, std::size_t max_depth)
      : root_(out), max_depth_(max_depth) {}

  bool null() { return place(nullptr); }
  bool boolean(bool v) { return place(v); }
  bool number_integer(nlohmann::json::number_integer_t v) { return place(v); }
  bool number_unsigned(nlohmann::json::number_unsigned_t v) { return place(v); }
  // "1e400" parses as infinity, which no encoder can write back: refuse it
  // here, so that what decodes always encodes again.
  bool number_float(nlohmann::json::number_float_t v, const std::string& text) {
    if (!std::isfinite(v)) {
      not_finite_ = text;
      return false;
    }
    return place(v);
  }
  bool string(std::string& v) { return place(std::move(v)); }
  bool binary(nlohmann::json::binary_t& v) { return place(std::move(v)); }

  bool start_object(std::size_t) { return enter(nlohmann::json::value_t::object); }
  bool start_array(std::size_t) { return enter(nlohmann::json::value_t::array); }
  bool end_object() { return leave(); }
  bool end_array() { return leave(); }

  bool key(std::string& name) {
    auto& members = stack_.back()->get_ref<nlohmann::json::object_t&>();
    auto [it, inserted] = members.try_emplace(name);
    if (!inserted) {
      duplicate_ = name;
      duplicate_at_top_ = stack_.size() == 1;
      return false;
    }
    member_ = &it->second;
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    syntax_error_ = e.what();  // nlohmann's text already gives line, column and token
    return false;
  }

  [[nodiscard]] bool too_deep() const noexcept { return too_deep_; }
  [[nodiscard]] const std::string& not_finite() const noexcept { return not_finite_; }
  [[nodiscard]] const std::string& syntax_error() const noexcept { return syntax_error_; }
  /// The member name given twice in one object, if that stopped the parse.
  [[nodiscard]] const std::optional<std::string>& duplicate() const noexcept { return duplicate_; }
  /// Whether that name is one of the event's own members (an attribute, data).
  [[nodiscard]] bool duplicate_at_top() const noexcept { return duplicate_at_top_; }

 private:
  template <class V>
  bool place(V&& v) {
    slot() = std::forward<V>(v);
    return true;
  }

  // Where the next value goes: the root, the end of an array, or the member just named.
  nlohmann::json& slot() {
    if (stack_.empty()) return root_;
    if (stack_.back()->is_array()) return stack_.back()->emplace_back();
    return *member_;
  }

  bool enter(nlohmann::json::value_t type) {
    if (stack_.size() + 1 > max_depth_) {
      too_deep_ = true;
      return false;
    }
    auto& value = slot();
    value = nlohmann::json(type);
    stack_.push_back(&value);
    return true;
  }

  bool leave() {
    stack_.pop_back();
    return true;
  }

  nlohmann::json& root_;
  std::size_t max_depth_;
  std::vector<nlohmann::json*> stack_;
  nlohmann::json* member_ = nullptr;
  bool too_deep_ = false;
  std::string syntax_error_;
  std::string not_finite_;
  std::optional<std::string> duplicate_;
  bool duplicate_at_top_ = false;
};

}  // namespace herald::detail
