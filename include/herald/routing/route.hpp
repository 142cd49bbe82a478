// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>          // find and erase routes
#include <cstddef>            // type indexes
#include <cstdint>            // route ids
#include <exception>          // handler failures go to the bus's error handler
#include <memory>             // handlers are shared by the copies of a table
#include <mutex>              // the types warned about, once per bus
#include <nlohmann/json.hpp>  // routes match the event's JSON form
#include <optional>           // the envelope is made only if a handler takes one
#include <string>             // error text
#include <string_view>        // pattern text
#include <type_traits>        // handler signature checks
#include <utility>            // std::move
#include <vector>             // the routes of a table

#include "herald/bus/detail/route_table.hpp"
#include "herald/cloudevent_json.hpp"
#include "herald/codec.hpp"
#include "herald/envelope.hpp"
#include "herald/error.hpp"
#include "herald/event.hpp"
#include "herald/routing/event_pattern.hpp"
#include "herald/routing/rule_set.hpp"

namespace herald {

namespace detail {

// One event as the routes see it: its JSON form always, its envelope when a
// handler asks for one (made once, shared by the handlers that do).
struct routed_event {
  const nlohmann::json& json;
  const attributes& attrs;
  std::optional<envelope> made;

  const envelope& as_envelope() {
    if (!made) {
      made.emplace();
      static_cast<attributes&>(*made) = attrs;
      if (auto data = json.find("data"); data != json.end()) made->data = *data;
    }
    return *made;
  }
};

struct route_target {
  explicit route_target(event_pattern p) : pattern(std::move(p)) {}
  virtual ~route_target() = default;
  virtual void call(routed_event& event) const = 0;
  event_pattern pattern;  // kept, so that a new base group can be built from the targets
  std::uint64_t id = 0;
  bool needs_data = false;
};

template <class F>
constexpr bool takes_envelope = std::is_invocable_v<F&, const envelope&>;
template <class F>
constexpr bool takes_json = std::is_invocable_v<F&, const nlohmann::json&>;

template <class Handler>
struct route_target_for final : route_target {
  route_target_for(event_pattern p, Handler h)
      : route_target(std::move(p)), handler(std::move(h)) {}
  void call(routed_event& event) const override {
    if constexpr (takes_envelope<Handler>) {
      handler(event.as_envelope());
    } else {
      handler(event.json);
    }
  }
  mutable Handler handler;  // called like any bus handler; the user's state is the user's
};

template <class F>
consteval bool check_route_handler() {
  if constexpr (!takes_envelope<F> && !takes_json<F>) {
    static_assert(always_false<F>,
                  "herald: a route handler must be callable with `const herald::envelope&` or "
                  "`const nlohmann::json&` (the event's CloudEvent JSON form)");
    return false;
  } else {
    return true;
  }
}

using route_rules = rule_set<std::shared_ptr<const route_target>>;

// Some routes and their rules. Once shared by tables it is never changed.
struct route_group {
  struct member {
    std::shared_ptr<const route_target> target;
    route_rules::rule_id rule;  // its rule in this group
  };
  route_rules rules;
  std::vector<member> members;  // by route id: the order added

  void add(std::shared_ptr<const route_target> target) {
    auto rule = rules.add(target->pattern, target);
    members.push_back({std::move(target), rule});
  }

  [[nodiscard]] std::vector<member>::const_iterator find(std::uint64_t id) const {
    auto it = std::lower_bound(members.begin(), members.end(), id,
                               [](const member& m, std::uint64_t v) { return m.target->id < v; });
    return it != members.end() && it->target->id == id ? it : members.end();
  }
};

// The event types a bus has reported as reaching data-constraining routes
// without a JSON form: each once per bus. Shared by the tables of one bus.
class warned_types {
 public:
  bool first_time(std::size_t type) {
    std::lock_guard lock(mutex_);
    if (type >= seen_.size()) seen_.resize(type + 1, false);
    if (seen_[type]) return false;
    seen_[type] = true;
    return true;
  }

 private:
  std::mutex mutex_;
  std::vector<bool> seen_;
};

// The routes of one bus at one moment; never changed once published to the
// bus, so publishes read it without locks. Adding or removing a route makes
// a new table, but not a copy of every route: the table shares a `base`
// group with its predecessor and copies only the routes added since
// (`recent`) and the ids removed from the base since (`removed`). When those
// outgrow the square root of the routes, they are folded into a new base;
// so a change costs O(√n) pattern copies, amortized, instead of O(n).
struct route_table_of final : route_table {
  route_table_of() : route_table{&dispatch_routes, &without_route, &destroy_table} {}

  std::shared_ptr<const route_group> base = std::make_shared<const route_group>();
  route_group recent;                  // every id here is above every id in base
  std::vector<std::uint64_t> removed;  // ids of base, sorted
  std::size_t needing_data = 0;        // live routes whose pattern constrains "data"
  std::shared_ptr<warned_types> warned = std::make_shared<warned_types>();

  [[nodiscard]] std::size_t size() const noexcept {
    return base->members.size() - removed.size() + recent.members.size();
  }

  [[nodiscard]] bool is_removed(std::uint64_t id) const {
    return std::binary_search(removed.begin(), removed.end(), id);
  }

  void add(std::shared_ptr<const route_target> target) {
    needing_data += target->needs_data ? 1U : 0U;
    recent.add(std::move(target));
    fold_if_large();
  }

  // False if there is no such live route.
  bool remove(std::uint64_t id) {
    if (auto r = recent.find(id); r != recent.members.end()) {
      needing_data -= r->target->needs_data ? 1U : 0U;
      recent.rules.remove(r->rule);
      recent.members.erase(r);
    } else if (auto b = base->find(id); b != base->members.end() && !is_removed(id)) {
      needing_data -= b->target->needs_data ? 1U : 0U;
      removed.insert(std::upper_bound(removed.begin(), removed.end(), id), id);
    } else {
      return false;
    }
    fold_if_large();
    return true;
  }

  void fold_if_large() {
    const std::size_t changes = recent.members.size() + removed.size();
    std::size_t limit = 16;
    while (limit * limit < size()) limit *= 2;  // about √n, never below 16
    if (changes <= limit) return;
    auto folded = std::make_shared<route_group>();
    for (const auto& m : base->members) {
      if (!is_removed(m.target->id)) folded->add(m.target);
    }
    for (const auto& m : recent.members) folded->add(m.target);
    base = std::move(folded);
    recent = route_group{};
    removed.clear();
  }

  static void dispatch_routes(const route_table& base_table, route_call& call) {
    const auto& self = static_cast<const route_table_of&>(base_table);
    const attributes& attrs = call.frame.attributes_of(call.frame);
    std::optional<nlohmann::json> event;
    try {
      event.emplace(cloudevent_attributes_json(attrs, attrs.type));
      if (call.encode) {
        (*event)["data"] = call.encode(call.payload);
      } else if (self.needing_data > 0 && self.warned->first_time(call.type)) {
        throw error(errc::invalid_argument,
                    "a route's pattern needs \"data\", but events of type '" + attrs.type +
                        "' reach routes without it: give the type a to_json that "
                        "argument-dependent lookup finds (NLOHMANN_DEFINE_TYPE_* gives one)");
      }
    } catch (...) {
      call.report(call.bus, attrs.type, attrs, std::current_exception());
      if (!event) return;
    }
    routed_event routed{*event, attrs, std::nullopt};
    auto run = [&](const std::shared_ptr<const route_target>& target) {
      try {
        target->call(routed);
      } catch (...) {
        call.report(call.bus, attrs.type, attrs, std::current_exception());
      }
    };
    // Base routes are older than recent ones: together, the order added.
    self.base->rules.for_each_match(*event, [&](const std::shared_ptr<const route_target>& t) {
      if (self.removed.empty() || !self.is_removed(t->id)) run(t);
    });
    self.recent.rules.for_each_match(*event, run);
  }

  static const route_table* without_route(const route_table& base_table, std::uint64_t id) {
    const auto& self = static_cast<const route_table_of&>(base_table);
    auto fresh = std::make_unique<route_table_of>(self);
    if (!fresh->remove(id)) return &base_table;
    if (fresh->size() == 0) return nullptr;
    return fresh.release();
  }

  static void destroy_table(const route_table* table) noexcept {
    delete static_cast<const route_table_of*>(table);
  }
};

template <class Pattern>
event_pattern to_event_pattern(Pattern&& pattern) {
  if constexpr (std::is_same_v<std::decay_t<Pattern>, event_pattern>) {
    return std::forward<Pattern>(pattern);
  } else {
    return event_pattern::parse(std::forward<Pattern>(pattern));
  }
}

// Declared in bus/detail/route_table.hpp: what bus.route() calls to make its next table.
template <class Pattern>
struct route_builder {
  template <class P, class Handler>
  static const route_table* with(const route_table* old, std::uint64_t id, P&& pattern,
                                 Handler&& handler) {
    using target_type = route_target_for<std::decay_t<Handler>>;
    if constexpr (check_route_handler<std::decay_t<Handler>>()) {
      auto target = std::make_shared<target_type>(to_event_pattern(std::forward<P>(pattern)),
                                                  std::forward<Handler>(handler));
      target->id = id;
      target->needs_data = target->pattern.constrains("data");
      auto fresh = old ? std::make_unique<route_table_of>(static_cast<const route_table_of&>(*old))
                       : std::make_unique<route_table_of>();
      fresh->add(std::move(target));
      return fresh.release();
    } else {
      return old;
    }
  }
};

}  // namespace detail
}  // namespace herald
