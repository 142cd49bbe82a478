// SPDX-License-Identifier: MIT
#include <herald/routing/rule_set.hpp>
#include <random>
#include <string>
#include <vector>

#include "catch.hpp"

namespace {

herald::event_pattern pattern(const char* json) {
  return herald::event_pattern::parse(std::string_view(json));
}

// Random patterns and events over a small vocabulary, so that they often meet.
class generator {
 public:
  explicit generator(std::uint32_t seed) : rng_(seed) {}

  nlohmann::json event() {
    nlohmann::json e = nlohmann::json::object();
    for (const char* field : {"type", "source", "n"}) {
      if (chance(80)) e[field] = leaf_value(field);
    }
    if (chance(70)) {
      nlohmann::json data = nlohmann::json::object();
      if (chance(70)) data["room"] = leaf_value("room");
      if (chance(70))
        data["level"] = chance(20) ? nlohmann::json::array({leaf_value("n"), leaf_value("n")})
                                   : leaf_value("n");
      if (chance(30))
        data["tags"] = nlohmann::json::array({leaf_value("room"), leaf_value("type")});
      if (chance(30)) {  // spelled with dotted keys, some or all of it
        for (auto& [key, value] : data.items()) {
          if (chance(70)) e["data." + key] = value;
        }
        for (const char* key : {"room", "level", "tags"}) {
          if (e.contains(std::string("data.") + key)) data.erase(key);
        }
        if (!data.empty()) e["data"] = data;
      } else {
        e["data"] = data;
      }
    }
    return e;
  }

  nlohmann::json pattern_json() {
    nlohmann::json p = nlohmann::json::object();
    int fields = 0;
    for (const char* field : {"type", "source", "n"}) {
      if (chance(45)) {
        p[field] = leaf_pattern(field);
        ++fields;
      }
    }
    if (chance(40)) {
      nlohmann::json data = nlohmann::json::object();
      const char* key = chance(50) ? "room" : "level";
      data[key] = leaf_pattern(chance(50) ? "room" : "n");
      if (chance(30)) {
        p[std::string("data.") + key] = data[key];  // the same path, dotted
      } else {
        p["data"] = data;
      }
      ++fields;
    }
    if (chance(20)) {
      p["$or"] =
          nlohmann::json::array({{{"type", leaf_pattern("type")}}, {{"n", leaf_pattern("n")}}});
      ++fields;
    }
    if (fields == 0) p["type"] = leaf_pattern("type");
    return p;
  }

 private:
  bool chance(int percent) { return std::uniform_int_distribution<int>(0, 99)(rng_) < percent; }
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  nlohmann::json leaf_value(std::string_view field) {
    if (field == "n") return pick(6);
    static const char* words[] = {"alpha", "beta", "gamma", "kitchen", "hall", "Alpha"};
    return words[pick(6)];
  }

  nlohmann::json leaf_pattern(std::string_view field) {
    nlohmann::json alternatives = nlohmann::json::array();
    int count = 1 + pick(2);
    for (int i = 0; i < count; ++i) {
      switch (pick(7)) {
        case 0:
        case 1:
        case 2:
          alternatives.push_back(leaf_value(field));
          break;  // exact
        case 3:
          alternatives.push_back({{"exists", chance(50)}});
          break;
        case 4:
          alternatives.push_back({{"anything-but", leaf_value(field)}});
          break;
        case 5:
          if (field == "n")
            alternatives.push_back({{"numeric", {">", pick(5)}}});
          else
            alternatives.push_back({{"prefix", "a"}});
          break;
        default:
          alternatives.push_back({{"equals-ignore-case", "ALPHA"}});
          break;
      }
    }
    return alternatives;
  }

  std::mt19937 rng_;
};

}  // namespace

TEST_CASE("rule_set returns every matching rule's target, in the order added",
          "[routing][rule_set]") {
  herald::rule_set<std::string> rules;
  rules.add(pattern(R"({"type":["door.opened"]})"), "door");
  rules.add(pattern(R"({"type":["door.opened","door.closed"],"data":{"room":["hall"]}})"),
            "hall door");
  rules.add(pattern(R"({"data":{"celsius":[{"numeric":[">",30]}]}})"), "hot");
  rules.add(pattern(R"({"source":[{"prefix":"/home"}]})"), "home");
  auto event = nlohmann::json::parse(
      R"({"type":"door.opened","source":"/home/hall","data":{"room":"hall"}})");
  CHECK(rules.match(event) == std::vector<std::string>{"door", "hall door", "home"});
  CHECK(rules.match(nlohmann::json::parse(R"({"type":"x","data":{"celsius":31}})")) ==
        std::vector<std::string>{"hot"});
  CHECK(rules.match(nlohmann::json::parse(R"({"type":"x"})")).empty());
  CHECK(rules.size() == 4);
}

TEST_CASE("removed rules match no more", "[routing][rule_set]") {
  herald::rule_set<int> rules;
  auto a = rules.add(pattern(R"({"type":["t"]})"), 1);
  auto b = rules.add(pattern(R"({"type":[{"prefix":"t"}]})"), 2);
  auto event = nlohmann::json::parse(R"({"type":"t"})");
  CHECK(rules.match(event) == std::vector<int>{1, 2});
  CHECK(rules.remove(a));
  CHECK_FALSE(rules.remove(a));
  CHECK(rules.match(event) == std::vector<int>{2});
  CHECK(rules.remove(b));
  CHECK(rules.match(event).empty());
  CHECK(rules.size() == 0);
}

TEST_CASE("indexed values are found inside arrays and nested objects, and 5 equals 5.0",
          "[routing][rule_set]") {
  herald::rule_set<int> rules;
  rules.add(pattern(R"({"data":{"level":[5]}})"), 1);
  rules.add(pattern(R"({"data":{"tags":["x"]}})"), 2);
  rules.add(pattern(R"({"flag":[true]})"), 3);
  rules.add(pattern(R"({"gone":[null]})"), 4);
  CHECK(rules.match(nlohmann::json::parse(R"({"data":[{"level":1},{"level":5.0}]})")) ==
        std::vector<int>{1});
  CHECK(rules.match(nlohmann::json::parse(R"({"data":{"tags":["y","x"]}})")) ==
        std::vector<int>{2});
  CHECK(rules.match(nlohmann::json::parse(R"({"flag":true,"gone":null})")) ==
        std::vector<int>{3, 4});
}

TEST_CASE("rule_set finds indexed values under dotted keys, as matching does",
          "[routing][rule_set]") {
  herald::rule_set<int> rules;
  rules.add(pattern(R"({"data":{"state":{"status":["running"]}}})"), 1);
  rules.add(pattern(R"({"data.state.status":["running"]})"), 2);
  for (const char* event :
       {R"({"data":{"state":{"status":"running"}}})", R"({"data.state.status":"running"})",
        R"({"data":{"state.status":"running"}})", R"({"data.state":{"status":"running"}})"}) {
    INFO(event);
    CHECK(rules.match(nlohmann::json::parse(event)) == std::vector<int>{1, 2});
  }
  CHECK(rules.match(nlohmann::json::parse(R"({"data.state.statusx":"running"})")).empty());
  CHECK(rules.match(nlohmann::json::parse(R"({"data.state.status.x":"running"})")).empty());
}

TEST_CASE("rule_set answers exactly as matching each pattern alone (property)",
          "[routing][rule_set][property]") {
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    generator gen(seed);
    herald::rule_set<std::size_t> rules;
    std::vector<herald::event_pattern> patterns;
    for (std::size_t i = 0; i < 60; ++i) {
      auto json = gen.pattern_json();
      patterns.push_back(herald::event_pattern::parse(json));
      rules.add(herald::event_pattern::parse(json), i);
    }
    for (int e = 0; e < 200; ++e) {
      auto event = gen.event();
      std::vector<std::size_t> expected;
      for (std::size_t i = 0; i < patterns.size(); ++i) {
        if (patterns[i].matches(event)) expected.push_back(i);
      }
      INFO("seed " << seed << ", event " << event.dump());
      REQUIRE(rules.match(event) == expected);
    }
  }
}

TEST_CASE("rule_set matches an event of 100,000 nested arrays without overflowing the stack",
          "[routing][rule_set][reliability]") {
  herald::rule_set<int> rules;
  rules.add(herald::event_pattern::parse(R"({"detail": {"n": [1]}})"), 1);
  nlohmann::json n = 1;
  for (int i = 0; i < 100000; ++i) {
    nlohmann::json outer = nlohmann::json::array();
    outer.push_back(std::move(n));
    n = std::move(outer);
  }
  nlohmann::json event = {{"detail", {{"n", std::move(n)}}}};
  CHECK(rules.match(event).empty());
}

TEST_CASE("rule_set under churn holds what its live rules need, not what it ever held",
          "[routing][rule_set][reliability]") {
  herald::rule_set<int> rules;
  auto stable = rules.add(pattern(R"({"type": ["stable"]})"), -1);
  for (int i = 0; i < 100000; ++i) {
    // A fresh key each time, indexed and unindexed in turn.
    const std::string json = i % 2 == 0
                                 ? R"({"source": ["s-)" + std::to_string(i) + R"("]})"
                                 : R"({"n": [{"numeric": [">", )" + std::to_string(i) + "]}]}";
    auto id = rules.add(pattern(json.c_str()), i);
    REQUIRE(rules.size() == 2);
    REQUIRE(rules.remove(id));
  }
  CHECK(rules.size() == 1);
  CHECK(rules.slot_count() <= 2);
  CHECK(rules.index_entries() == 1);
  CHECK(rules.match({{"type", "stable"}}) == std::vector<int>{-1});
  CHECK(rules.remove(stable));
  CHECK(rules.index_entries() == 0);
  CHECK_FALSE(rules.remove(stable));
}

TEST_CASE("rule_set keeps the order added when removed slots are reused", "[routing][rule_set]") {
  herald::rule_set<int> rules;
  auto a = rules.add(pattern(R"({"type": ["t"]})"), 1);
  rules.add(pattern(R"({"type": ["t"]})"), 2);
  rules.remove(a);
  rules.add(pattern(R"({"source": [{"prefix": ""}]})"), 3);  // reuses slot 0, unindexed
  rules.add(pattern(R"({"type": ["t"]})"), 4);
  CHECK(rules.match({{"type", "t"}, {"source", "x"}}) == std::vector<int>{2, 3, 4});
}
