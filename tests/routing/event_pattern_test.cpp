// SPDX-License-Identifier: MIT
#include <herald/routing/event_pattern.hpp>
#include <limits>
#include <string>
#include <vector>

#include "catch.hpp"

namespace {

struct match_case {
  const char* pattern;
  const char* event;
  bool expected;
};

void check_cases(const std::vector<match_case>& cases) {
  for (const auto& c : cases) {
    INFO("pattern: " << c.pattern << "\nevent:   " << c.event);
    auto pattern = herald::event_pattern::parse(std::string_view(c.pattern));
    CHECK(pattern.matches(nlohmann::json::parse(c.event)) == c.expected);
  }
}

}  // namespace

TEST_CASE("exact values: strings, numbers, booleans and null, with strict types", "[routing]") {
  check_cases({
      {R"({"source":["shop"]})", R"({"source":"shop"})", true},
      {R"({"source":["shop"]})", R"({"source":"shops"})", false},
      {R"({"source":["shop","mail"]})", R"({"source":"mail"})", true},  // OR within a field
      {R"({"n":[5]})", R"({"n":5})", true},
      {R"({"n":[5]})", R"({"n":5.0})", true},  // 5 equals 5.0
      {R"({"n":[5.0]})", R"({"n":5})", true},
      {R"({"n":[5]})", R"({"n":"5"})", false},  // strict types
      {R"({"n":["5"]})", R"({"n":5})", false},
      {R"({"b":[true]})", R"({"b":true})", true},
      {R"({"b":[true]})", R"({"b":"true"})", false},
      {R"({"b":[false]})", R"({"b":true})", false},
      {R"({"x":[null]})", R"({"x":null})", true},
      {R"({"x":[null]})", R"({})", false},  // null is not missing
      {R"({"x":[null]})", R"({"x":0})", false},
      {R"({"source":["shop"]})", R"({})", false},
      {R"({"source":["shop"]})", R"({"source":{"name":"shop"}})", false},
  });
}

TEST_CASE("fields AND together and nest into objects", "[routing]") {
  check_cases({
      {R"({"type":["order.placed"],"data":{"total":[10]}})",
       R"({"type":"order.placed","data":{"total":10,"currency":"EUR"}})", true},
      {R"({"type":["order.placed"],"data":{"total":[10]}})",
       R"({"type":"order.placed","data":{"total":11}})", false},
      {R"({"type":["order.placed"],"data":{"total":[10]}})",
       R"({"type":"order.shipped","data":{"total":10}})", false},
      {R"({"a":{"b":{"c":["deep"]}}})", R"({"a":{"b":{"c":"deep"}}})", true},
      {R"({"a":{"b":{"c":["deep"]}}})", R"({"a":{"b":"c"}})", false},
      {R"({"a":{"b":["x"]}})", R"({"a":"b"})", false},
  });
}

TEST_CASE("an array in the event matches when any element matches", "[routing]") {
  check_cases({
      {R"({"resources":["arn:1"]})", R"({"resources":["arn:0","arn:1"]})", true},
      {R"({"resources":["arn:2"]})", R"({"resources":["arn:0","arn:1"]})", false},
      {R"({"tags":[{"prefix":"prod-"}]})", R"({"tags":["dev-a","prod-b"]})", true},
      {R"({"n":[{"numeric":[">",10]}]})", R"({"n":[1,2,30]})", true},
      {R"({"n":[{"numeric":[">",10]}]})", R"({"n":[[1],[2,[30]]]})", true},  // flattened
      {R"({"n":[1]})", R"({"n":[]})", false},
  });
}

TEST_CASE("fields matched inside an array of objects must come from the same element",
          "[routing]") {
  check_cases({
      {R"({"lines":{"sku":["A"],"qty":[2]}})",
       R"({"lines":[{"sku":"A","qty":2},{"sku":"B","qty":1}]})", true},
      {R"({"lines":{"sku":["A"],"qty":[1]}})",
       R"({"lines":[{"sku":"A","qty":2},{"sku":"B","qty":1}]})", false},
      {R"({"a":{"b":{"c":[1],"d":[2]}}})", R"({"a":[{"b":[{"c":1},{"d":2}]}]})", false},
      {R"({"a":{"b":{"c":[1],"d":[2]}}})", R"({"a":[{"b":[{"c":1,"d":2}]}]})", true},
      {R"({"a":{"b":{"c":[1]},"d":[2]}})", R"({"a":[{"b":[{"c":1}],"d":3},{"b":[{"c":2}],"d":2}]})",
       false},
      {R"({"a":{"b":{"c":[1]},"d":[2]}})", R"({"a":[{"b":[{"c":2}],"d":3},{"b":[{"c":1}],"d":2}]})",
       true},
  });
}

TEST_CASE("prefix and suffix, plain and ignoring case", "[routing]") {
  check_cases({
      {R"({"time":[{"prefix":"2026-11"}]})", R"({"time":"2026-11-23T10:00:00Z"})", true},
      {R"({"time":[{"prefix":"2026-11"}]})", R"({"time":"2026-12-01T10:00:00Z"})", false},
      {R"({"n":[{"prefix":"1"}]})", R"({"n":12})", false},  // strings only
      {R"({"id":[{"prefix":{"equals-ignore-case":"SENSOR-"}}]})", R"({"id":"sensor-7"})", true},
      {R"({"id":[{"prefix":{"equals-ignore-case":"SENSOR-"}}]})", R"({"id":"sens"})", false},
      {R"({"file":[{"suffix":".png"}]})", R"({"file":"cat.png"})", true},
      {R"({"file":[{"suffix":".png"}]})", R"({"file":"cat.PNG"})", false},
      {R"({"file":[{"suffix":{"equals-ignore-case":".png"}}]})", R"({"file":"cat.PNG"})", true},
      {R"({"file":[{"suffix":{"equals-ignore-case":".png"}}]})", R"({"file":"cat.jpg"})", false},
  });
}

TEST_CASE("equals-ignore-case", "[routing]") {
  check_cases({
      {R"({"s":[{"equals-ignore-case":"AlArM"}]})", R"({"s":"alarm"})", true},
      {R"({"s":[{"equals-ignore-case":"alarm"}]})", R"({"s":"ALARM"})", true},
      {R"({"s":[{"equals-ignore-case":"alarm"}]})", R"({"s":"alarms"})", false},
      {R"({"s":[{"equals-ignore-case":"1"}]})", R"({"s":1})", false},
  });
}

TEST_CASE("wildcard, with escapes", "[routing]") {
  check_cases({
      {R"({"s":[{"wildcard":"Simple*Service"}]})", R"({"s":"SimpleQueueService"})", true},
      {R"({"s":[{"wildcard":"Simple*Service"}]})", R"({"s":"SimpleService"})", true},
      {R"({"s":[{"wildcard":"Simple*Service"}]})", R"({"s":"SimpleQueueServices"})", false},
      {R"({"s":[{"wildcard":"*"}]})", R"({"s":""})", true},
      {R"({"s":[{"wildcard":"*.png"}]})", R"({"s":"a.png"})", true},
      {R"({"s":[{"wildcard":"img-*"}]})", R"({"s":"img-1"})", true},
      {R"({"s":[{"wildcard":"*-*-*"}]})", R"({"s":"a-b-c"})", true},
      {R"({"s":[{"wildcard":"*-*-*"}]})", R"({"s":"a-b"})", false},
      {R"({"s":[{"wildcard":"ab*ba"}]})", R"({"s":"aba"})", false},  // no overlap
      {R"({"s":[{"wildcard":"ab*ba"}]})", R"({"s":"abba"})", true},
      {R"({"s":[{"wildcard":"exact"}]})", R"({"s":"exact"})", true},
      {R"({"s":[{"wildcard":"exact"}]})", R"({"s":"exactly"})", false},
      {R"({"s":[{"wildcard":"a\\*b"}]})", R"({"s":"a*b"})", true},  // escaped star
      {R"({"s":[{"wildcard":"a\\*b"}]})", R"({"s":"axb"})", false},
      {R"({"s":[{"wildcard":"a\\\\*"}]})", R"({"s":"a\\xyz"})", true},  // escaped backslash
      {R"({"s":[{"wildcard":"*"}]})", R"({"s":5})", false},
  });
}

TEST_CASE("anything-but: values, lists, and its prefix, suffix, ignore-case and wildcard forms",
          "[routing]") {
  check_cases({
      {R"({"state":[{"anything-but":"initializing"}]})", R"({"state":"running"})", true},
      {R"({"state":[{"anything-but":"initializing"}]})", R"({"state":"initializing"})", false},
      {R"({"state":[{"anything-but":"initializing"}]})", R"({})", false},  // needs a value
      {R"({"state":[{"anything-but":["stopped","overloaded"]}]})", R"({"state":"stopped"})", false},
      {R"({"state":[{"anything-but":["stopped","overloaded"]}]})", R"({"state":"ok"})", true},
      {R"({"x":[{"anything-but":123}]})", R"({"x":123.0})", false},
      {R"({"x":[{"anything-but":123}]})", R"({"x":124})", true},
      {R"({"x":[{"anything-but":[100,200,300]}]})", R"({"x":200})", false},
      {R"({"x":[{"anything-but":[100,200,300]}]})", R"({"x":250})", true},
      {R"({"x":[{"anything-but":"5"}]})", R"({"x":5})", true},  // strict types
      {R"({"s":[{"anything-but":{"prefix":"init"}}]})", R"({"s":"initializing"})", false},
      {R"({"s":[{"anything-but":{"prefix":"init"}}]})", R"({"s":"running"})", true},
      {R"({"s":[{"anything-but":{"suffix":".tmp"}}]})", R"({"s":"a.tmp"})", false},
      {R"({"s":[{"anything-but":{"suffix":".tmp"}}]})", R"({"s":"a.txt"})", true},
      {R"({"s":[{"anything-but":{"equals-ignore-case":["OFF","idle"]}}]})", R"({"s":"off"})",
       false},
      {R"({"s":[{"anything-but":{"equals-ignore-case":"off"}}]})", R"({"s":"ON"})", true},
      {R"({"s":[{"anything-but":{"wildcard":"*.tmp"}}]})", R"({"s":"x.tmp"})", false},
      {R"({"s":[{"anything-but":{"wildcard":["*.tmp","*.bak"]}}]})", R"({"s":"x.bak"})", false},
      {R"({"s":[{"anything-but":{"wildcard":"*.tmp"}}]})", R"({"s":"x.txt"})", true},
      {R"({"s":[{"anything-but":"a"}]})", R"({"s":["a","b"]})", true},  // any element
      {R"({"s":[{"anything-but":"a"}]})", R"({"s":["a"]})", false},
      // Lists of prefixes and suffixes: none of them may fit.
      {R"({"r":[{"anything-but":{"prefix":["us-","eu-"]}}]})", R"({"r":"eu-west-1"})", false},
      {R"({"r":[{"anything-but":{"prefix":["us-","eu-"]}}]})", R"({"r":"ap-south-1"})", true},
      {R"({"f":[{"anything-but":{"suffix":[".png",".jpg"]}}]})", R"({"f":"a.jpg"})", false},
      {R"({"f":[{"anything-but":{"suffix":[".png",".jpg"]}}]})", R"({"f":"a.gif"})", true},
      // A value of another type than the operand is none of the excluded values
      // (event-ruler: only an equal value of the same type excludes).
      {R"({"s":[{"anything-but":"a"}]})", R"({"s":null})", true},
      {R"({"s":[{"anything-but":"a"}]})", R"({"s":true})", true},
      {R"({"x":[{"anything-but":[1,2]}]})", R"({"x":"1"})", true},
      {R"({"x":[{"anything-but":[1,2]}]})", R"({"x":null})", true},
      {R"({"s":[{"anything-but":{"prefix":"init"}}]})", R"({"s":null})", true},
      {R"({"s":[{"anything-but":{"prefix":"init"}}]})", R"({"s":7})", true},
      {R"({"s":[{"anything-but":{"suffix":".tmp"}}]})", R"({"s":false})", true},
      {R"({"s":[{"anything-but":{"equals-ignore-case":"off"}}]})", R"({"s":null})", true},
      {R"({"s":[{"anything-but":{"wildcard":"*.tmp"}}]})", R"({"s":3.5})", true},
      // Still a value is needed: a missing field or an object is no value.
      {R"({"s":[{"anything-but":{"prefix":"init"}}]})", R"({})", false},
      {R"({"s":[{"anything-but":{"prefix":"init"}}]})", R"({"s":{"t":"x"}})", false},
  });
}

TEST_CASE("dotted keys are the paths they spell, in patterns and in events (event-ruler)",
          "[routing]") {
  check_cases({
      {R"({"detail":{"state.status":["running"]}})", R"({"detail":{"state":{"status":"running"}}})",
       true},
      {R"({"detail":{"state":{"status":["running"]}}})", R"({"detail":{"state.status":"running"}})",
       true},
      {R"({"detail.state.status":["running"]})", R"({"detail":{"state.status":"running"}})", true},
      {R"({"detail.state.status":["running"]})", R"({"detail.state":{"status":"running"}})", true},
      {R"({"detail.state.status":["running"]})", R"({"detail.state.status":"stopped"})", false},
      {R"({"detail.state.status":["running"]})", R"({"detail":{"state":"running"}})", false},
      {R"({"detail.state.status":["running"]})", R"({"detail.statex.status":"running"})", false},
      // A dotted and a nested key through one object share it: in an array,
      // one element must hold both.
      {R"({"a.b":["x"],"a":{"c":["y"]}})", R"({"a":[{"b":"x","c":"y"}]})", true},
      {R"({"a.b":["x"],"a":{"c":["y"]}})", R"({"a":[{"b":"x"},{"c":"y"}]})", false},
      {R"({"a.b":["x"],"a":{"c":["y"]}})", R"({"a.b":"x","a":{"c":"y"}})", true},
      // Both spellings at once in an event: both values are there.
      {R"({"a":{"b":["x"]}})", R"({"a":{"b":"y"},"a.b":"x"})", true},
      {R"({"a.b":[{"exists":false}]})", R"({"a":{"c":1}})", true},
      {R"({"a.b":[{"exists":false}]})", R"({"a.b":1})", false},
  });
}

TEST_CASE("numeric ranges", "[routing]") {
  check_cases({
      {R"({"c":[{"numeric":[">",0,"<=",5]}]})", R"({"c":5})", true},
      {R"({"c":[{"numeric":[">",0,"<=",5]}]})", R"({"c":0})", false},
      {R"({"c":[{"numeric":[">",0,"<=",5]}]})", R"({"c":5.0001})", false},
      {R"({"c":[{"numeric":[">=",0,"<",5]}]})", R"({"c":0})", true},
      {R"({"c":[{"numeric":[">=",0,"<",5]}]})", R"({"c":5})", false},
      {R"({"d":[{"numeric":["<",10]}]})", R"({"d":-1e9})", true},
      {R"({"x":[{"numeric":["=",3.018e2]}]})", R"({"x":301.8})", true},
      {R"({"x":[{"numeric":["=",301.8]}]})", R"({"x":301.9})", false},
      {R"({"x":[{"numeric":[">",1]}]})", R"({"x":"2"})", false},  // numbers only
  });
}

TEST_CASE("exists: true needs a leaf value, false matches only its absence", "[routing]") {
  check_cases({
      {R"({"c":[{"exists":true}]})", R"({"c":5})", true},
      {R"({"c":[{"exists":true}]})", R"({"c":null})", true},
      {R"({"c":[{"exists":true}]})", R"({})", false},
      {R"({"c":[{"exists":false}]})", R"({})", true},
      {R"({"c":[{"exists":false}]})", R"({"c":5})", false},
      {R"({"c":[{"exists":false}]})", R"({"c":{"c1":100}})", true},  // not a leaf
      {R"({"c":[{"exists":true}]})", R"({"c":{"c1":100}})", false},
      {R"({"c":[{"exists":false}]})", R"({"c":[]})", true},
      {R"({"d":{"c":[{"exists":false}]}})", R"({})", true},  // nested, parent missing
      {R"({"d":{"c":[{"exists":false}]}})", R"({"d":[{"c":1},{"e":2}]})", true},
      {R"({"d":{"c":[{"exists":false}]}})", R"({"d":[{"c":1}]})", false},
  });
}

TEST_CASE("cidr blocks, IPv4 and IPv6", "[routing]") {
  check_cases({
      {R"({"ip":[{"cidr":"10.0.0.0/24"}]})", R"({"ip":"10.0.0.33"})", true},
      {R"({"ip":[{"cidr":"10.0.0.0/24"}]})", R"({"ip":"10.0.1.33"})", false},
      {R"({"ip":[{"cidr":"10.0.0.0/8"}]})", R"({"ip":"10.200.1.2"})", true},
      {R"({"ip":[{"cidr":"0.0.0.0/0"}]})", R"({"ip":"8.8.8.8"})", true},
      {R"({"ip":[{"cidr":"192.168.1.7/32"}]})", R"({"ip":"192.168.1.7"})", true},
      {R"({"ip":[{"cidr":"192.168.1.7/32"}]})", R"({"ip":"192.168.1.8"})", false},
      {R"({"ip":[{"cidr":"2001:db8::/32"}]})", R"({"ip":"2001:db8:1::5"})", true},
      {R"({"ip":[{"cidr":"2001:db8::/32"}]})", R"({"ip":"2001:db9::5"})", false},
      {R"({"ip":[{"cidr":"::1/128"}]})", R"({"ip":"0:0:0:0:0:0:0:1"})", true},
      // An IPv4-mapped IPv6 address is the IPv4 address (RFC 4291 §2.5.5.2); EventBridge says
      // nothing.
      {R"({"ip":[{"cidr":"10.0.0.0/24"}]})", R"({"ip":"::ffff:10.0.0.1"})", true},
      {R"({"ip":[{"cidr":"10.0.0.0/24"}]})", R"({"ip":"2001:db8::1"})", false},
      {R"({"ip":[{"cidr":"10.0.0.0/24"}]})", R"({"ip":"not an ip"})", false},
      {R"({"ip":[{"cidr":"10.0.0.0/24"}]})", R"({"ip":"10.0.0.256"})", false},
      {R"({"ip":[{"cidr":"10.0.0.0/24"}]})", R"({"ip":167772161})", false},
  });
}

TEST_CASE("$or: one of the alternatives, at any level, combined with AND", "[routing]") {
  const char* pattern = R"({"source":["cloudwatch"],
                            "$or":[{"metric":["CPU","Latency"]},{"namespace":["EC2"]}]})";
  check_cases({
      {pattern, R"({"source":"cloudwatch","metric":"CPU"})", true},
      {pattern, R"({"source":"cloudwatch","namespace":"EC2"})", true},
      {pattern, R"({"source":"cloudwatch","namespace":"S3"})", false},
      {pattern, R"({"source":"other","metric":"CPU"})", false},
      {R"({"detail":{"$or":[{"a":[1]},{"b":[2]}]},"$or":[{"x":[1]},{"y":[1]}]})",
       R"({"detail":{"b":2},"y":1})", true},
      {R"({"detail":{"$or":[{"a":[1]},{"b":[2]}]},"$or":[{"x":[1]},{"y":[1]}]})",
       R"({"detail":{"b":2},"z":1})", false},
      {R"({"$or":[{"m":[1]},{"t":["T"],"n":["N"],"$or":[{"i":[1]},{"s":[2]}]}]})",
       R"({"t":"T","n":"N","s":2})", true},
      {R"({"$or":[{"m":[1]},{"t":["T"],"n":["N"],"$or":[{"i":[1]},{"s":[2]}]}]})",
       R"({"t":"T","n":"N","s":3})", false},
  });
}

TEST_CASE("invalid patterns are refused at parse time, naming the path", "[routing]") {
  struct bad {
    const char* pattern;
    const char* path;
    const char* says;
  };
  const bad cases[] = {
      {R"([])", "", "must be an object"},
      {R"({})", "", "at least one field"},
      {R"({"a":"x"})", "a", "must be an array of values to match or an object"},
      {R"({"a":5})", "a", "must be an array"},
      {R"({"a":[]})", "a", "may not be empty"},
      {R"({"a":{}})", "a", "at least one field"},
      {R"({"a":[[1]]})", "a[0]", "may not be an array"},
      {R"({"a":[{}]})", "a[0]", "exactly one operator, got 0"},
      {R"({"a":[{"prefix":"x","suffix":"y"}]})", "a[0]", "exactly one operator, got 2"},
      {R"({"a":[{"regex":"x"}]})", "a[0].regex", "unknown operator 'regex'"},
      {R"({"a":[{"prefix":5}]})", "a[0].prefix", "takes a string"},
      {R"({"a":[{"prefix":{"foo":"x"}}]})", "a[0].prefix", "equals-ignore-case"},
      {R"({"a":[{"suffix":["x"]}]})", "a[0].suffix", "takes a string"},
      {R"({"a":[{"equals-ignore-case":1}]})", "a[0].equals-ignore-case", "takes a string"},
      {R"({"a":[{"wildcard":"a**b"}]})", "a[0].wildcard", "consecutive '*'"},
      {R"({"a":[{"wildcard":"a\\b"}]})", "a[0].wildcard", "backslash"},
      {R"({"a":[{"wildcard":"a\\"}]})", "a[0].wildcard", "backslash"},
      {R"({"a":[{"anything-but":[]}]})", "a[0].anything-but", "non-empty"},
      {R"({"a":[{"anything-but":["x",1]}]})", "a[0].anything-but[1]",
       "only strings or only numbers"},
      {R"({"a":[{"anything-but":true}]})", "a[0].anything-but", "anything-but takes"},
      {R"({"a":[{"anything-but":{"numeric":[">",1]}}]})", "a[0].anything-but.numeric",
       "cannot hold 'numeric'"},
      {R"({"a":[{"anything-but":{"prefix":1}}]})", "a[0].anything-but.prefix", "takes a string"},
      {R"({"a":[{"anything-but":{"prefix":""}}]})", "a[0].anything-but.prefix", "may not be empty"},
      {R"({"a":[{"anything-but":{"suffix":["x",""]}}]})", "a[0].anything-but.suffix[1]",
       "may not be empty"},
      {R"({"a":[{"anything-but":{"suffix":[]}}]})", "a[0].anything-but.suffix",
       "non-empty array of strings"},
      {R"({"a":[{"anything-but":{"prefix":["x",2]}}]})", "a[0].anything-but.prefix[1]",
       "takes a string"},
      {R"({"a":[{"anything-but":{"equals-ignore-case":[null]}}]})",
       "a[0].anything-but.equals-ignore-case[0]", "takes a string"},
      {R"({"a":[{"anything-but":[null]}]})", "a[0].anything-but[0]",
       "only strings or only numbers"},
      {R"({"a":[{"anything-but":{"anything-but":"x"}}]})", "a[0].anything-but.anything-but",
       "cannot hold 'anything-but'"},
      {R"({"a":[{"anything-but":{"prefix":"x","suffix":"y"}}]})", "a[0].anything-but",
       "anything-but takes"},
      {R"({"a":[{"anything-but":{"wildcard":"**"}}]})", "a[0].anything-but.wildcard",
       "consecutive"},
      {R"({"a":[{"numeric":[]}]})", "a[0].numeric", "numeric takes"},
      {R"({"a":[{"numeric":[">"]}]})", "a[0].numeric", "numeric takes"},
      {R"({"a":[{"numeric":[">","1"]}]})", "a[0].numeric[1]", "with a number"},
      {R"({"a":[{"numeric":["!=",1]}]})", "a[0].numeric[0]", "unknown numeric operator '!='"},
      {R"({"a":[{"numeric":[">",1,">",2]}]})", "a[0].numeric[2]", "two lower bounds"},
      {R"({"a":[{"numeric":["=",1,"<",2]}]})", "a[0].numeric[0]", "cannot be combined"},
      {R"({"a":[{"numeric":[">",5,"<",1]}]})", "a[0].numeric", "range is empty"},
      {R"({"a":[{"numeric":["<=",1,">=",1]}]})", "a[0].numeric", "range is empty"},
      {R"({"a":[{"exists":"yes"}]})", "a[0].exists", "true or false"},
      {R"({"a":[{"cidr":"10.0.0.0"}]})", "a[0].cidr", "cidr takes"},
      {R"({"a":[{"cidr":"10.0.0.0/33"}]})", "a[0].cidr", "cidr takes"},
      {R"({"a":[{"cidr":"300.0.0.0/8"}]})", "a[0].cidr", "cidr takes"},
      {R"({"a":[{"cidr":"2001:db8::/129"}]})", "a[0].cidr", "cidr takes"},
      {R"({"a":[{"cidr":"2001:db8:::/32"}]})", "a[0].cidr", "cidr takes"},
      {R"({"$or":[{"a":[1]}]})", "$or", "at least two"},
      {R"({"$or":{"a":[1]}})", "$or", "at least two"},
      {R"({"$or":[{"a":[1]},{}]})", "$or[1]", "at least one field"},
      {R"({"$or":[{"a":[1]},"b"]})", "$or[1]", "must be an object"},
      {R"({"d":{"$or":[{"a":[1]},{"b":[{"exists":1}]}]}})", "d.$or[1].b[0].exists",
       "true or false"},
  };
  for (const auto& c : cases) {
    INFO("pattern: " << c.pattern);
    try {
      (void)herald::event_pattern::parse(std::string_view(c.pattern));
      FAIL("accepted an invalid pattern");
    } catch (const herald::pattern_error& e) {
      CHECK(e.path() == c.path);
      CHECK(e.code() == herald::errc::invalid_pattern);
      CHECK_THAT(e.what(), herald_test::contains(c.says));
      CHECK_THAT(e.what(),
                 herald_test::contains(std::string("at '") + (*c.path ? c.path : "$") + "'"));
    }
  }
  CHECK_THROWS_AS(herald::event_pattern::parse(std::string_view("{not json")),
                  herald::pattern_error);
}

TEST_CASE("a pattern parses from a literal, a std::string, a string_view or a json", "[routing]") {
  auto event = nlohmann::json::parse(R"({"a":1})");
  std::string text = R"({"a":[1]})";
  CHECK(herald::event_pattern::parse(R"({"a":[1]})").matches(event));
  CHECK(herald::event_pattern::parse(text).matches(event));
  CHECK(herald::event_pattern::parse(std::string_view(text)).matches(event));
  CHECK(herald::event_pattern::parse(nlohmann::json::parse(text)).matches(event));
}

TEST_CASE("a pattern matches a CloudEvent's structured JSON form", "[routing]") {
  auto pattern = herald::event_pattern::parse(std::string_view(R"({
    "type": ["home.sensor.temperature"],
    "source": [{"prefix": "/home/kitchen"}],
    "data": {"celsius": [{"numeric": [">=", 30]}]}
  })"));
  auto hot = nlohmann::json::parse(R"({"specversion":"1.0","id":"1","source":"/home/kitchen/s1",
      "type":"home.sensor.temperature","data":{"celsius":31.5}})");
  auto cool = hot;
  cool["data"]["celsius"] = 21;
  CHECK(pattern.matches(hot));
  CHECK_FALSE(pattern.matches(cool));
}

namespace {

// Nested n deep without recursion or quadratic copies: [[[...1...]]].
nlohmann::json nested_arrays(std::size_t n) {
  nlohmann::json j = 1;
  for (std::size_t i = 0; i < n; ++i) {
    nlohmann::json outer = nlohmann::json::array();
    outer.push_back(std::move(j));
    j = std::move(outer);
  }
  return j;
}

std::string pattern_error_of(const nlohmann::json& pattern) {
  try {
    (void)herald::event_pattern::parse(pattern);
  } catch (const herald::pattern_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a hostile pattern depth is refused at parse time instead of overflowing the stack",
          "[routing][pattern][reliability]") {
  nlohmann::json deep = nlohmann::json::array({"x"});
  for (int i = 0; i < 30000; ++i) deep = nlohmann::json{{"a", std::move(deep)}};
  CHECK_THAT(pattern_error_of(deep), herald_test::contains("deeper than 32 levels"));
  std::string text;
  for (int i = 0; i < 30000; ++i) text += R"({"a":)";
  text += R"(["x"])" + std::string(30000, '}');
  try {
    (void)herald::event_pattern::parse(text);
    FAIL("a 30,000-deep pattern parsed");
  } catch (const herald::pattern_error& e) {
    CHECK_THAT(e.what(), herald_test::contains("deeper than 32 levels"));
  }

  nlohmann::json ors = {{"a", {"x"}}};
  for (int i = 0; i < 100000; ++i) {
    nlohmann::json alternatives = nlohmann::json::array();
    alternatives.push_back(std::move(ors));
    alternatives.push_back({{"b", {"y"}}});
    ors = nlohmann::json{{"$or", std::move(alternatives)}};
  }
  CHECK_THAT(pattern_error_of(ors), herald_test::contains("deeper than 32 levels"));

  nlohmann::json ok = nlohmann::json::array({"x"});
  for (int i = 0; i < 31; ++i) ok = nlohmann::json{{"a", std::move(ok)}};
  CHECK(pattern_error_of(ok).empty());
}

TEST_CASE("a pattern too large to match cheaply is refused at parse time",
          "[routing][pattern][reliability]") {
  nlohmann::json values = nlohmann::json::array();
  for (int i = 0; i < 20000; ++i) values.push_back(i);
  CHECK_THAT(pattern_error_of({{"detail", {{"n", values}}}}),
             herald_test::contains("more than 10000 fields, values and alternatives"));
  nlohmann::json excluded = nlohmann::json::array();
  for (int i = 0; i < 20000; ++i) excluded.push_back("v" + std::to_string(i));
  CHECK_THAT(pattern_error_of({{"n", {{{"anything-but", excluded}}}}}),
             herald_test::contains("more than 10000"));
  CHECK_THAT(pattern_error_of({{"n", {{{"anything-but", {{"wildcard", excluded}}}}}}}),
             herald_test::contains("more than 10000"));
}

TEST_CASE(
    "matching an event of 100,000 nested arrays neither crashes nor looks past the nesting "
    "limit",
    "[routing][pattern][reliability]") {
  nlohmann::json event = {{"detail", {{"n", nested_arrays(100000)}}}};
  auto leaf = herald::event_pattern::parse(R"({"detail": {"n": [1]}})");
  auto nested = herald::event_pattern::parse(R"({"detail": {"n": {"m": [1]}}})");
  CHECK_FALSE(leaf.matches(event));
  CHECK_FALSE(nested.matches(event));
  nlohmann::json shallow = {{"detail", {{"n", nested_arrays(10)}}}};
  CHECK(leaf.matches(shallow));
}

TEST_CASE("a pattern given as JSON refuses NaN and infinite numbers, which text cannot hold",
          "[routing][pattern][reliability]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  CHECK_THAT(pattern_error_of({{"n", {{{"numeric", {">", nan}}}}}}),
             herald_test::contains("finite number"));
  CHECK_THAT(pattern_error_of({{"n", {{{"numeric", {">", 0, "<", inf}}}}}}),
             herald_test::contains("finite number"));
  CHECK_THAT(pattern_error_of({{"n", {{{"numeric", {"=", nan}}}}}}),
             herald_test::contains("finite number"));
  CHECK_THAT(pattern_error_of({{"n", {nan}}}), herald_test::contains("must be finite"));
}
