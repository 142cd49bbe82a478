// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>          // sort, unique, erase
#include <cstddef>            // slots
#include <cstdint>            // rule ids
#include <deque>              // per-thread candidate buffers
#include <functional>         // std::equal_to<> for heterogeneous lookup
#include <nlohmann/json.hpp>  // events are JSON
#include <optional>           // removed rules leave empty slots
#include <string>             // index keys
#include <string_view>        // lookups without copies
#include <unordered_map>      // value -> rules
#include <utility>            // std::move
#include <vector>             // rules, candidates

#include "herald/routing/event_pattern.hpp"

namespace herald {

namespace detail {

// Candidate slots for one match, taken from a per-thread pool so that a
// warm rule_set matches without allocating; a pool, not one buffer, because
// a match callback may match again (another rule set, on the same thread).
class scratch_slots {
 public:
  scratch_slots() : slots(take()) {}
  ~scratch_slots() {
    slots.clear();
    --depth();
  }
  scratch_slots(const scratch_slots&) = delete;
  scratch_slots& operator=(const scratch_slots&) = delete;

  std::vector<std::size_t>& slots;

 private:
  // A deque: growing it never moves the buffers outer matches hold.
  static std::deque<std::vector<std::size_t>>& pool() {
    static thread_local std::deque<std::vector<std::size_t>> buffers;
    return buffers;
  }
  static std::size_t& depth() {
    static thread_local std::size_t d = 0;
    return d;
  }
  static std::vector<std::size_t>& take() {
    auto& buffers = pool();
    if (depth() == buffers.size()) buffers.emplace_back();
    return buffers[depth()++];
  }
};

}  // namespace detail

/// Many event patterns, each with a target; match() returns the targets of
/// every rule whose pattern matches, in the order the rules were added.
///
/// Each rule is indexed by one field it requires an exact value for (the one
/// whose values select the fewest rules so far); an event then looks up its own values
/// for the indexed fields and checks only the rules found there, plus the
/// rules that require no exact value. The answer is always exactly what
/// matching each pattern alone would give: every candidate is checked in full.
///
/// add() and remove() cost what the rule touches, not what the set ever
/// held: a removed rule's slot is reused and its index entries are erased.
/// They must not run concurrently with anything else; match() may run on
/// many threads at once.
template <class Target>
class rule_set {
 public:
  using rule_id = std::uint64_t;

  /// Adds a rule; the returned id removes it.
  rule_id add(event_pattern pattern, Target target) {
    rule_id id = ++last_id_;
    std::size_t slot = rules_.size();
    if (!free_slots_.empty()) {
      slot = free_slots_.back();
      free_slots_.pop_back();
    } else {
      rules_.emplace_back();
    }
    auto& r = rules_[slot].emplace(rule{id, std::move(pattern), std::move(target), {}, {}});
    slot_of_.emplace(id, slot);
    std::vector<std::string> path;
    std::vector<candidate_key> keys;
    required_exact_fields(r.pattern.root_, path, keys);
    if (keys.empty()) {
      unindexed_.push_back(slot);
    } else {
      // The field whose values currently select the fewest rules, so that
      // rules spread over the index instead of piling up on one common key.
      const candidate_key* best = nullptr;
      std::size_t best_cost = 0;
      for (const auto& key : keys) {
        std::size_t cost = crowding(key);
        if (!best || cost < best_cost) {
          best = &key;
          best_cost = cost;
        }
      }
      auto& index = index_for(best->path);
      for (const auto& m : best->field->leaf) index.add(m, slot);
      r.key_path = best->path;
      r.keys = best->field->leaf;
    }
    ++size_;
    return id;
  }

  /// Removes a rule; false if there is none with this id.
  bool remove(rule_id id) {
    auto found = slot_of_.find(id);
    if (found == slot_of_.end()) return false;
    const std::size_t slot = found->second;
    slot_of_.erase(found);
    rule& r = *rules_[slot];
    if (r.key_path.empty()) {
      std::erase(unindexed_, slot);
    } else {
      auto index = std::find_if(indexes_.begin(), indexes_.end(),
                                [&](const value_index& i) { return i.path == r.key_path; });
      for (const auto& m : r.keys) index->remove(m, slot);
      if (index->empty()) indexes_.erase(index);
    }
    rules_[slot].reset();
    free_slots_.push_back(slot);
    --size_;
    return true;
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  /// Diagnostics: slots held (live and free) and index entries (distinct
  /// exact values indexed). They follow the most rules held at once, never
  /// how many were ever added.
  [[nodiscard]] std::size_t slot_count() const noexcept { return rules_.size(); }
  [[nodiscard]] std::size_t index_entries() const noexcept {
    std::size_t n = 0;
    for (const auto& index : indexes_) {
      n += index.strings.size() + index.numbers.size() + !index.trues.empty() +
           !index.falses.empty() + !index.nulls.empty();
    }
    return n;
  }

  /// Calls `on_match(const Target&)` for each matching rule, in the order added.
  template <class F>
  void for_each_match(const nlohmann::json& event, F&& on_match) const {
    detail::scratch_slots lease;  // reused per thread: matching allocates nothing once warm
    auto& candidates = lease.slots;
    candidates.assign(unindexed_.begin(), unindexed_.end());
    for (const auto& index : indexes_) {
      visit_values(event, index.path, 0, [&](const nlohmann::json& value) {
        if (const auto* found = index.find(value)) {
          candidates.insert(candidates.end(), found->begin(), found->end());
        }
      });
    }
    // Slots are reused, so the order added is the order of rule ids.
    std::sort(candidates.begin(), candidates.end(),
              [&](std::size_t a, std::size_t b) { return rules_[a]->id < rules_[b]->id; });
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    for (std::size_t slot : candidates) {
      const auto& r = rules_[slot];
      if (r && r->pattern.matches(event)) on_match(r->target);
    }
  }

  /// The targets of every matching rule, in the order added.
  [[nodiscard]] std::vector<Target> match(const nlohmann::json& event) const {
    std::vector<Target> out;
    for_each_match(event, [&](const Target& t) { out.push_back(t); });
    return out;
  }

 private:
  struct rule {
    rule_id id;
    event_pattern pattern;
    Target target;
    std::vector<std::string> key_path;           // the indexed field; empty: unindexed
    std::vector<detail::pattern::matcher> keys;  // its exact values, as indexed
  };

  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  using slots = std::vector<std::size_t>;

  struct value_index {
    std::vector<std::string> path;
    std::unordered_map<std::string, slots, string_hash, std::equal_to<>> strings;
    std::unordered_map<double, slots> numbers;  // 5 and 5.0 are one key, as they match
    slots trues, falses, nulls;

    void add(const detail::pattern::matcher& m, std::size_t slot) {
      using detail::pattern::op;
      switch (m.kind) {
        case op::exact_string:
          strings[m.text].push_back(slot);
          break;
        case op::exact_number:
          numbers[m.number == 0 ? 0.0 : m.number].push_back(slot);
          break;
        case op::exact_bool:
          (m.flag ? trues : falses).push_back(slot);
          break;
        default:
          nulls.push_back(slot);
          break;  // choose_key admits only exact values
      }
    }

    std::size_t count(const detail::pattern::matcher& m) const {
      using detail::pattern::op;
      switch (m.kind) {
        case op::exact_string: {
          auto it = strings.find(std::string_view(m.text));
          return it == strings.end() ? 0 : it->second.size();
        }
        case op::exact_number: {
          auto it = numbers.find(m.number == 0 ? 0.0 : m.number);
          return it == numbers.end() ? 0 : it->second.size();
        }
        case op::exact_bool:
          return (m.flag ? trues : falses).size();
        default:
          return nulls.size();
      }
    }

    // Takes `slot` off the one list `m` put it on; an emptied key goes too.
    void remove(const detail::pattern::matcher& m, std::size_t slot) {
      using detail::pattern::op;
      auto from = [&](auto& map, const auto& key) {
        auto it = map.find(key);
        if (it == map.end()) return;
        std::erase(it->second, slot);
        if (it->second.empty()) map.erase(it);
      };
      switch (m.kind) {
        case op::exact_string:
          from(strings, std::string_view(m.text));
          break;
        case op::exact_number:
          from(numbers, m.number == 0 ? 0.0 : m.number);
          break;
        case op::exact_bool:
          std::erase(m.flag ? trues : falses, slot);
          break;
        default:
          std::erase(nulls, slot);
          break;
      }
    }

    [[nodiscard]] bool empty() const noexcept {
      return strings.empty() && numbers.empty() && trues.empty() && falses.empty() && nulls.empty();
    }

    const slots* find(const nlohmann::json& v) const {
      if (v.is_string()) {
        auto it = strings.find(std::string_view(v.get_ref<const std::string&>()));
        return it == strings.end() ? nullptr : &it->second;
      }
      if (v.is_number()) {
        double d = v.get<double>();
        auto it = numbers.find(d == 0 ? 0.0 : d);
        return it == numbers.end() ? nullptr : &it->second;
      }
      if (v.is_boolean()) return v.get<bool>() ? &trues : &falses;
      if (v.is_null()) return &nulls;
      return nullptr;
    }
  };

  static bool exact_only(const detail::pattern::field& f) {
    using detail::pattern::op;
    for (const auto& m : f.leaf) {
      if (m.kind != op::exact_string && m.kind != op::exact_number && m.kind != op::exact_bool &&
          m.kind != op::exact_null) {
        return false;
      }
    }
    return !f.leaf.empty();
  }

  struct candidate_key {
    std::vector<std::string> path;
    const detail::pattern::field* field;
  };

  // Fields the pattern requires an exact value for, through nested objects
  // but never inside "$or" (an alternative is not required).
  static void required_exact_fields(const detail::pattern::node& n, std::vector<std::string>& path,
                                    std::vector<candidate_key>& out) {
    for (const auto& f : n.fields) {
      path.push_back(f.name);
      if (!f.nested.empty()) {
        required_exact_fields(f.nested.front(), path, out);
      } else if (exact_only(f)) {
        out.push_back({path, &f});
      }
      path.pop_back();
    }
  }

  // How many rules already sit under this key's values: what an event with
  // one of them would have to check.
  std::size_t crowding(const candidate_key& key) const {
    std::size_t total = key.field->leaf.size();  // fewer alternatives break ties
    for (const auto& index : indexes_) {
      if (index.path != key.path) continue;
      for (const auto& m : key.field->leaf) total += index.count(m);
    }
    return total;
  }

  value_index& index_for(const std::vector<std::string>& path) {
    for (auto& index : indexes_) {
      if (index.path == path) return index;
    }
    indexes_.push_back(value_index{path, {}, {}, {}, {}, {}});
    return indexes_.back();
  }

  // The event's leaf values at `path`, through arrays at any level.
  template <class Visit>
  static void visit_values(const nlohmann::json& v, const std::vector<std::string>& path,
                           std::size_t depth, Visit&& visit, std::size_t nesting = 0) {
    if (v.is_array()) {
      if (nesting == detail::pattern::max_array_nesting) return;  // as matching does
      for (const auto& e : v) visit_values(e, path, depth, visit, nesting + 1);
      return;
    }
    if (depth == path.size()) {
      if (!v.is_object()) visit(v);
      return;
    }
    if (!v.is_object()) return;
    auto it = v.find(path[depth]);
    if (it != v.end()) visit_values(*it, path, depth + 1, visit, nesting);
    // Keys with dots spell paths, as in matching: "a.b" is a then b.
    const auto& members = v.get_ref<const nlohmann::json::object_t&>();
    const std::string& name = path[depth];
    for (auto m = members.lower_bound(name);
         m != members.end() && std::string_view(m->first).starts_with(name); ++m) {
      std::string_view key(m->first);
      // Sorted: past "name." come keys like "namespace", never a dotted one.
      if (key.size() > name.size() && key[name.size()] > '.') break;
      std::size_t at = depth;
      while (at < path.size() && key.starts_with(path[at])) {
        key.remove_prefix(path[at].size());
        ++at;
        if (key.empty()) break;
        if (key.front() != '.') break;
        key.remove_prefix(1);
      }
      if (key.empty() && at > depth + 1) visit_values(m->second, path, at, visit, nesting);
    }
  }

  std::vector<std::optional<rule>> rules_;
  std::vector<std::size_t> free_slots_;
  std::unordered_map<rule_id, std::size_t> slot_of_;
  std::vector<value_index> indexes_;
  slots unindexed_;
  rule_id last_id_ = 0;
  std::size_t size_ = 0;
};

}  // namespace herald
