// SPDX-License-Identifier: MIT
#include <cstdint>
#include <herald/codec.hpp>
#include <herald/id.hpp>
#include <limits>
#include <string>

#include "catch.hpp"

using namespace std::chrono_literals;

namespace shop {

struct order_placed {
  static constexpr std::string_view event_type = "shop.order.placed";
  std::string order_id;
  double total = 0;
  friend bool operator==(const order_placed&, const order_placed&) = default;
};

void to_json(nlohmann::json& j, const order_placed& e) {
  j = {{"order_id", e.order_id}, {"total", e.total}};
}
void from_json(const nlohmann::json& j, order_placed& e) {
  j.at("order_id").get_to(e.order_id);
  j.at("total").get_to(e.total);
}

}  // namespace shop

namespace {

herald::envelope full_envelope() {
  herald::envelope e;
  e.id = "0190f5c8-7e3a-7b2c-9d4e-5f6a7b8c9d0e";
  e.source = "/shop/orders";
  e.type = "shop.order.placed";
  e.time = herald::time_point{1767225600s + 123456789ns};
  e.subject = "order-42";
  e.datacontenttype = "application/json";
  e.dataschema = "https://schemas.example.com/order/1";
  e.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  e.correlationid = "corr-1";
  e.causationid = "cause-1";
  e.partitionkey = "customer-7";
  e.extensions.set("tenant", std::string("acme"));
  e.extensions.set("priority", std::int64_t{5});
  e.extensions.set("replay", true);
  e.data = nlohmann::json{{"order_id", "42"}, {"lines", {1, 2, 3}}, {"note", "caf\xc3\xa9 \"q\""}};
  return e;
}

std::string with(std::string_view members) {
  return std::string(R"({"specversion":"1.0","id":"1","source":"/s","type":"a.b")") +
         std::string(members) + "}";
}

// Decodes `json` and returns the decode_error it must throw.
herald::decode_error decode_failure(std::string_view json,
                                    const herald::decode_limits& limits = {}) {
  try {
    (void)herald::decode_envelope(json, limits);
  } catch (const herald::decode_error& e) {
    return e;
  }
  FAIL("decode_envelope accepted: " << json);
  throw;  // unreachable
}

}  // namespace

TEST_CASE("an envelope survives encode and decode unchanged", "[codec]") {
  herald::envelope original = full_envelope();
  std::string json = herald::encode_envelope(original);
  herald::envelope decoded = herald::decode_envelope(json);
  CHECK(decoded == original);
  CHECK(herald::encode_envelope(decoded) == json);
}

TEST_CASE("the encoding is CloudEvents 1.0 structured JSON", "[codec]") {
  auto json = nlohmann::json::parse(herald::encode_envelope(full_envelope()));
  CHECK(json["specversion"] == "1.0");
  CHECK(json["id"] == "0190f5c8-7e3a-7b2c-9d4e-5f6a7b8c9d0e");
  CHECK(json["time"] == "2026-01-01T00:00:00.123456789Z");
  CHECK(json["tenant"] == "acme");
  CHECK(json["priority"] == 5);
  CHECK(json["replay"] == true);
  CHECK(json["data"]["lines"][2] == 3);
  CHECK_FALSE(json.contains("data_base64"));
}

TEST_CASE("binary data travels as data_base64", "[codec]") {
  herald::envelope e = full_envelope();
  e.data.reset();
  for (std::size_t n = 0; n < 7; ++n) {
    std::vector<std::uint8_t> bytes;
    for (std::size_t i = 0; i < n; ++i) bytes.push_back(static_cast<std::uint8_t>(250 + i));
    e.data_base64 = bytes;
    herald::envelope back = herald::decode_envelope(herald::encode_envelope(e));
    REQUIRE(back.data_base64);
    CHECK(*back.data_base64 == bytes);
    CHECK_FALSE(back.data);
  }
  auto json = nlohmann::json::parse(herald::encode_envelope(e));
  CHECK(json["data_base64"] == "+vv8/f7/");  // 6 bytes: no padding
}

TEST_CASE("a minimal event decodes; absent optional attributes stay empty", "[codec]") {
  herald::envelope e = herald::decode_envelope(with(""));
  CHECK(e.id == "1");
  CHECK(e.source == "/s");
  CHECK(e.type == "a.b");
  CHECK(e.specversion == "1.0");
  CHECK_FALSE(e.time);
  CHECK(e.subject.empty());
  CHECK_FALSE(e.data);
  CHECK_FALSE(e.data_base64);
  CHECK(e.extensions.empty());
}

TEST_CASE("a null attribute is the same as an absent one", "[codec]") {
  herald::envelope e = herald::decode_envelope(
      with(R"(,"subject":null,"time":null,"myext":null,"data_base64":null)"));
  CHECK(e.subject.empty());
  CHECK_FALSE(e.time);
  CHECK(e.extensions.empty());
  CHECK_FALSE(e.data_base64);
  CHECK(
      decode_failure(R"({"specversion":"1.0","id":null,"source":"/s","type":"a.b"})").attribute() ==
      "id");
}

TEST_CASE("time accepts RFC 3339 forms and normalizes to UTC", "[codec]") {
  auto time_of = [](std::string_view text) {
    return *herald::decode_envelope(with(R"(,"time":")" + std::string(text) + "\"")).time;
  };
  herald::time_point midnight{1767225600s};
  CHECK(time_of("2026-01-01T00:00:00Z") == midnight);
  CHECK(time_of("2026-01-01t00:00:00z") == midnight);
  CHECK(time_of("2026-01-01T01:30:00+01:30") == midnight);
  CHECK(time_of("2025-12-31T23:00:00-01:00") == midnight);
  CHECK(time_of("2026-01-01T00:00:00.5Z") == midnight + 500ms);
  CHECK(time_of("2026-01-01T00:00:00.1234567891Z") == midnight + 123456789ns);
  CHECK(time_of("2025-12-31T23:59:60Z") == midnight);  // leap second rolls over
  CHECK(time_of("2024-02-29T00:00:00Z") == herald::time_point{1709164800s});
}

TEST_CASE("each CloudEvents rule broken gives a decode_error naming the attribute", "[codec]") {
  struct bad_case {
    std::string json;
    std::string attribute;
    std::string says;
  };
  const std::string v = R"({"specversion":"1.0",)";
  const bad_case cases[] = {
      // required attributes
      {R"({"id":"1","source":"/s","type":"a.b"})", "specversion", "is required"},
      {v + R"("source":"/s","type":"a.b"})", "id", "is required"},
      {v + R"("id":"1","type":"a.b"})", "source", "is required"},
      {v + R"("id":"1","source":"/s"})", "type", "is required"},
      {v + R"("id":"","source":"/s","type":"a.b"})", "id", "non-empty"},
      {v + R"("id":"1","source":"","type":"a.b"})", "source", "non-empty"},
      {v + R"("id":"1","source":"/s","type":""})", "type", "non-empty"},
      {v + R"("id":7,"source":"/s","type":"a.b"})", "id", "must be a string, got number"},
      {v + R"("id":"1","source":["/s"],"type":"a.b"})", "source", "must be a string, got array"},
      {v + R"("id":"1","source":"/s","type":true})", "type", "must be a string, got boolean"},
      // specversion
      {R"({"specversion":"0.3","id":"1","source":"/s","type":"a.b"})", "specversion", "\"1.0\""},
      {R"({"specversion":1.0,"id":"1","source":"/s","type":"a.b"})", "specversion", "\"1.0\""},
      {R"({"specversion":"1.0 ","id":"1","source":"/s","type":"a.b"})", "specversion", "\"1.0\""},
      // optional attributes
      {with(R"(,"subject":"")"), "subject", "non-empty"},
      {with(R"(,"subject":5)"), "subject", "must be a string"},
      {with(R"(,"datacontenttype":"")"), "datacontenttype", "non-empty"},
      {with(R"(,"dataschema":"not a uri")"), "dataschema", "absolute URI"},
      {with(R"(,"dataschema":"/relative/path")"), "dataschema", "absolute URI"},
      {with(R"(,"dataschema":"1http://x")"), "dataschema", "absolute URI"},
      {R"({"specversion":"1.0","id":"1","source":"has space","type":"a.b"})", "source",
       "URI-reference"},
      // time
      {with(R"(,"time":"2026-01-01")"), "time", "RFC 3339"},
      {with(R"(,"time":"2026-01-01T00:00:00")"), "time", "RFC 3339"},  // no offset
      {with(R"(,"time":"2026-02-30T00:00:00Z")"), "time", "RFC 3339"},
      {with(R"(,"time":"2025-02-29T00:00:00Z")"), "time", "RFC 3339"},  // not a leap year
      {with(R"(,"time":"2026-01-01T24:00:00Z")"), "time", "RFC 3339"},
      {with(R"(,"time":"2026-01-01T00:60:00Z")"), "time", "RFC 3339"},
      {with(R"(,"time":"2026-01-01T00:00:61Z")"), "time", "RFC 3339"},
      {with(R"(,"time":"2026-01-01T00:00:00.Z")"), "time", "RFC 3339"},
      {with(R"(,"time":"2026-01-01T00:00:00+0100")"), "time", "RFC 3339"},
      {with(R"(,"time":"2026-01-01T00:00:00+24:00")"), "time", "RFC 3339"},
      {with(R"(,"time":"2026-01-01T00:00:00Zjunk")"), "time", "RFC 3339"},
      {with(R"(,"time":"1000-01-01T00:00:00Z")"), "time", "RFC 3339"},  // outside time_point
      {with(R"(,"time":1767225600)"), "time", "must be a string"},
      // extensions
      {with(R"(,"Tenant":"x")"), "Tenant", "lowercase letters a-z and digits 0-9"},
      {with(R"(,"my-ext":"x")"), "my-ext", "lowercase letters a-z and digits 0-9"},
      {with(R"(,"my_ext":"x")"), "my_ext", "lowercase letters a-z and digits 0-9"},
      {with(R"(,"":"x")"), "", "lowercase letters"},
      {with(R"(,"ext":1.5)"), "ext", "a number that is not an integer"},
      // CloudEvents Integer: the signed 32-bit range
      {with(R"(,"ext":18446744073709551615)"), "ext", "CloudEvents Integer, from -2147483648"},
      {with(R"(,"ext":2147483648)"), "ext", "CloudEvents Integer, from -2147483648"},
      {with(R"(,"ext":-2147483649)"), "ext", "got -2147483649"},
      // CloudEvents String: no control characters, surrogates or noncharacters
      {with(R"(,"subject":"a\u0001b")"), "subject", "holds U+0001"},
      {with(R"(,"subject":"tab\there")"), "subject", "holds U+0009"},
      {with(R"(,"datacontenttype":"a\u007f")"), "datacontenttype", "holds U+007F"},
      {with(R"(,"ext":"x\u0085")"), "ext", "holds U+0085"},
      {with(R"(,"correlationid":"\ufdd0")"), "correlationid", "holds U+FDD0"},
      {with(R"(,"partitionkey":"\uffff")"), "partitionkey", "holds U+FFFF"},
      {with(R"(,"subject":"\ud83f\udffe")"), "subject", "holds U+1FFFE"},
      // a member given twice: two parsers would read two events
      {with(R"(,"subject":"a","subject":"b")"), "subject", "is given twice"},
      {with(R"(,"id":"2")"), "id", "is given twice"},
      {with(R"(,"data":{"n":1,"n":2})"), "data", "names the member 'n' twice"},
      {with(R"(,"ext":{"a":1})"), "ext", "string, an integer or a boolean, got object"},
      {with(R"(,"ext":[1])"), "ext", "got array"},
      {with(R"(,"traceparent":"00-xyz")"), "traceparent", "W3C traceparent"},
      {with(R"(,"traceparent":"00-00000000000000000000000000000000-00f067aa0ba902b7-01")"),
       "traceparent", "W3C traceparent"},
      {with(R"(,"traceparent":"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")"),
       "traceparent", "W3C traceparent"},
      {with(R"(,"traceparent":"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01")"),
       "traceparent", "W3C traceparent"},
      // data
      {with(R"(,"data":1,"data_base64":"AA==")"), "data_base64", "both present"},
      {with(R"(,"data_base64":"A")"), "data_base64", "not valid base64"},
      {with(R"(,"data_base64":"A===")"), "data_base64", "not valid base64"},
      {with(R"(,"data_base64":"AA=A")"), "data_base64", "not valid base64"},
      {with(R"(,"data_base64":"AA AA==")"), "data_base64", "not valid base64"},
      {with(R"(,"data_base64":5)"), "data_base64", "must be a base64 string"},
      // the document
      {"", "", "not valid JSON"},
      {"{", "", "not valid JSON"},
      {with("") + "x", "", "not valid JSON"},
      {R"([{"specversion":"1.0"}])", "", "must be a JSON object, got array"},
      {R"("event")", "", "must be a JSON object, got string"},
      {with(",\"subject\":\"\xff\""), "", "not valid JSON"},  // not UTF-8
  };
  for (const auto& c : cases) {
    INFO("input: " << c.json);
    auto failure = decode_failure(c.json);
    CHECK(failure.attribute() == c.attribute);
    CHECK(failure.code() == herald::errc::decode_failed);
    CHECK_THAT(failure.what(), herald_test::contains(c.says));
    CHECK_THAT(failure.what(), herald_test::starts_with("herald: "));
  }
}

TEST_CASE("extension values may be strings, CloudEvents Integers (32-bit) or booleans",
          "[codec][conformance]") {
  auto e = herald::decode_envelope(
      with(R"(,"s":"x\u00a0y","i":-2147483648,"u":2147483647,"b":false,"sub2":"y")"));
  REQUIRE(e.extensions.size() == 5);
  CHECK(std::get<std::string>(*e.extensions.find("s")) == "x\xc2\xa0y");
  CHECK(std::get<std::int64_t>(*e.extensions.find("i")) == INT32_MIN);
  CHECK(std::get<std::int64_t>(*e.extensions.find("u")) == INT32_MAX);
  CHECK(std::get<bool>(*e.extensions.find("b")) == false);
  CHECK(e.extensions.find("missing") == nullptr);
}

TEST_CASE("encode refuses what the CloudEvents type system forbids, naming the attribute",
          "[codec][conformance]") {
  herald::envelope e;
  e.id = "1";
  e.source = "/s";
  e.type = "a.b";
  auto refused = [](const herald::envelope& bad) {
    try {
      (void)herald::encode_envelope(bad);
    } catch (const herald::error& err) {
      CHECK(err.code() == herald::errc::invalid_argument);
      return std::string(err.what());
    }
    return std::string("accepted");
  };
  auto big = e;
  big.extensions.set("n", std::int64_t{1} << 31);
  CHECK_THAT(refused(big), herald_test::contains("attribute 'n' must be a CloudEvents Integer"));
  auto control = e;
  control.subject = "line\nbreak";
  CHECK_THAT(refused(control), herald_test::contains("attribute 'subject' holds U+000A"));
  auto c1 = e;
  c1.extensions.set("tenant", std::string("a\xc2\x9f"));
  CHECK_THAT(refused(c1), herald_test::contains("attribute 'tenant' holds U+009F"));
  // Every rule decode enforces on a string attribute, encode enforces too.
  auto spaced = e;
  spaced.source = "/my source";
  CHECK_THAT(refused(spaced), herald_test::contains("attribute 'source' must be a URI-reference"));
  auto relative = e;
  relative.dataschema = "schemas/order.json";
  CHECK_THAT(refused(relative),
             herald_test::contains("attribute 'dataschema' must be an absolute"));
  auto trace = e;
  trace.traceparent = "00-xyz";
  CHECK_THAT(refused(trace), herald_test::contains("attribute 'traceparent' must be a W3C"));
  auto fine = e;
  fine.extensions.set("n", std::int64_t{-2147483648LL});
  fine.subject = "caf\xc3\xa9 \xe2\x82\xac";
  CHECK(herald::decode_envelope(herald::encode_envelope(fine)) == fine);
}

TEST_CASE("a traceparent of a later version may carry more fields", "[codec]") {
  auto e = herald::decode_envelope(
      with(R"(,"traceparent":"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")"));
  CHECK(e.traceparent.size() == 61);
  CHECK(
      decode_failure(
          with(R"(,"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")"))
          .attribute() == "traceparent");
}

TEST_CASE("decode limits bound size and depth while parsing", "[codec][limits]") {
  SECTION("size") {
    herald::decode_limits limits;
    limits.max_bytes = 100;
    std::string big = with(R"(,"data":")" + std::string(200, 'x') + "\"");
    auto failure = decode_failure(big, limits);
    CHECK(failure.code() == herald::errc::limit_exceeded);
    CHECK_THAT(failure.what(), herald_test::contains("over the limit of 100"));
    CHECK_NOTHROW(herald::decode_envelope(big));
  }
  SECTION("default size is 1 MiB") {
    std::string huge = with(R"(,"data":")" + std::string(1 << 20, 'x') + "\"");
    CHECK(decode_failure(huge).code() == herald::errc::limit_exceeded);
  }
  SECTION("depth") {
    auto nested = [](int depth) {  // the event object itself is depth 1
      return with(",\"data\":" + std::string(static_cast<std::size_t>(depth - 1), '[') +
                  std::string(static_cast<std::size_t>(depth - 1), ']'));
    };
    CHECK_NOTHROW(herald::decode_envelope(nested(64)));
    auto failure = decode_failure(nested(65));
    CHECK(failure.code() == herald::errc::limit_exceeded);
    CHECK_THAT(failure.what(), herald_test::contains("deeper than the limit of 64"));
    herald::decode_limits shallow;
    shallow.max_depth = 3;
    CHECK_NOTHROW(herald::decode_envelope(nested(3), shallow));
    CHECK(decode_failure(nested(4), shallow).code() == herald::errc::limit_exceeded);
  }
  SECTION("a hostile depth fails cleanly instead of exhausting the stack") {
    std::string hostile = with(",\"data\":" + std::string(500000, '['));
    CHECK(decode_failure(hostile).code() == herald::errc::limit_exceeded);
  }
}

TEST_CASE("encode refuses an envelope that could not be decoded", "[codec]") {
  auto refuses = [](herald::envelope e, std::string_view says) {
    try {
      (void)herald::encode_envelope(e);
      FAIL("encode_envelope accepted it");
    } catch (const herald::error& ex) {
      CHECK(ex.code() == herald::errc::invalid_argument);
      CHECK_THAT(ex.what(), herald_test::contains(std::string(says)));
    }
  };
  auto e = full_envelope();
  e.id.clear();
  refuses(e, "'id' is required");
  e = full_envelope();
  e.specversion = "0.3";
  refuses(e, "'specversion' must be \"1.0\"");
  e = full_envelope();
  e.data_base64 = std::vector<std::uint8_t>{1};
  refuses(e, "both set");
  e = full_envelope();
  e.subject = "\xc3\x28";  // invalid UTF-8
  refuses(e, "'subject' is not valid UTF-8");
  e = full_envelope();
  e.source = "\xed\xa0\x80";  // an encoded surrogate
  refuses(e, "'source' is not valid UTF-8");
}

TEST_CASE("extension_map refuses names CloudEvents does not allow", "[codec]") {
  herald::extension_map map;
  CHECK_THROWS_WITH(map.set("Bad", true), herald_test::contains("lowercase letters a-z"));
  CHECK_THROWS_WITH(map.set("correlationid", true), herald_test::contains("has its own member"));
  map.set("b", true);
  map.set("a", std::int64_t{1});
  map.set("b", false);
  REQUIRE(map.size() == 2);
  CHECK(map.begin()->first == "a");
  CHECK(std::get<bool>(*map.find("b")) == false);
  CHECK(map.erase("a"));
  CHECK_FALSE(map.erase("a"));
}

TEST_CASE("typed messages convert through the payload's to_json and from_json", "[codec]") {
  herald::message<shop::order_placed> m(shop::order_placed{"42", 99.5});
  m.id = herald::new_id();
  m.source = "/shop";
  m.correlationid = "c";
  std::string json = herald::encode(m);
  auto back = herald::decode<shop::order_placed>(json);
  CHECK(back == m);
  CHECK(back.type == "shop.order.placed");
}

TEST_CASE("a payload that does not decode as T names data and the reason", "[codec]") {
  std::string wrong_type = herald::encode_envelope(herald::decode_envelope(with("")));
  CHECK_THROWS_WITH(herald::decode<shop::order_placed>(wrong_type),
                    herald_test::contains("'type' is 'a.b', expected 'shop.order.placed'"));

  std::string no_data =
      R"({"specversion":"1.0","id":"1","source":"/s","type":"shop.order.placed"})";
  CHECK_THROWS_WITH(herald::decode<shop::order_placed>(no_data),
                    herald_test::contains("'data' is required"));

  std::string bad_data = R"({"specversion":"1.0","id":"1","source":"/s","type":"shop.order.placed",
                             "data":{"order_id":42}})";
  try {
    (void)herald::decode<shop::order_placed>(bad_data);
    FAIL("decoded a payload with a number for a string");
  } catch (const herald::decode_error& e) {
    CHECK(e.attribute() == "data");
    CHECK_THAT(e.what(), herald_test::contains("does not decode as shop.order.placed"));
  }
}

TEST_CASE("error messages quote hostile attribute names safely", "[codec]") {
  auto failure = decode_failure(with(",\"\\u0001\\n" + std::string(100, 'X') + "\":1"));
  std::string what = failure.what();
  CHECK(what.find('\n') == std::string::npos);
  CHECK(what.find('\x01') == std::string::npos);
  CHECK(what.size() < 300);
}

TEST_CASE("decode refuses bytes after a NUL, which another parser would read",
          "[codec][reliability]") {
  std::string json = with("") + std::string(1, '\0') + R"({"id":"evil"})";
  auto failure = decode_failure(json);
  CHECK(failure.code() == herald::errc::decode_failed);
  CHECK_THAT(failure.what(), herald_test::contains("NUL byte at offset"));
  CHECK(decode_failure(with(R"(,"subject":"a)") + std::string(1, '\0') + "b\"}").code() ==
        herald::errc::decode_failed);
}

TEST_CASE("what herald encodes, herald decodes: times at both ends of the range",
          "[codec][reliability]") {
  using namespace std::chrono;
  auto round_trip = [](herald::time_point t) {
    auto e = full_envelope();
    e.time = t;
    return herald::decode_envelope(herald::encode_envelope(e)).time;
  };
  const herald::time_point first{sys_days{year{1678} / 1 / 1}};
  const herald::time_point last = herald::time_point{sys_days{year{2262} / 1 / 1}} - 1ns;
  CHECK(round_trip(first) == first);
  CHECK(round_trip(last) == last);
  for (auto outside :
       {first - 1ns, last + 1ns, herald::time_point::min(), herald::time_point::max()}) {
    auto e = full_envelope();
    e.time = outside;
    try {
      (void)herald::encode_envelope(e);
      FAIL("encoded a time its decoder refuses");
    } catch (const herald::error& ex) {
      CHECK(ex.code() == herald::errc::invalid_argument);
      CHECK_THAT(ex.what(), herald_test::contains("1678-2261"));
    }
  }
  CHECK(decode_failure(with(R"(,"time":"1677-12-31T23:59:59Z")")).attribute() == "time");
  CHECK(decode_failure(with(R"(,"time":"2262-01-01T00:00:00Z")")).attribute() == "time");
}

TEST_CASE("encode refuses data JSON cannot carry instead of writing null", "[codec][reliability]") {
  for (double bad :
       {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
        std::numeric_limits<double>::quiet_NaN()}) {
    auto e = full_envelope();
    e.data = nlohmann::json{{"values", {1.0, bad}}};
    try {
      (void)herald::encode_envelope(e);
      FAIL("encoded a non-finite number");
    } catch (const herald::error& ex) {
      CHECK(ex.code() == herald::errc::invalid_argument);
      CHECK_THAT(ex.what(), herald_test::contains("NaN or infinite"));
    }
  }
}

TEST_CASE("decode accepts only canonical base64", "[codec][reliability]") {
  CHECK(decode_failure(with(R"(,"data_base64":"AB==")")).attribute() == "data_base64");
  CHECK(decode_failure(with(R"(,"data_base64":"AAB=")")).attribute() == "data_base64");
  CHECK(herald::decode_envelope(with(R"(,"data_base64":"AA==")")).data_base64->size() == 1);
  CHECK(herald::decode_envelope(with(R"(,"data_base64":"AAA=")")).data_base64->size() == 2);
}

TEST_CASE("encode refuses what decoding with the same limits would refuse",
          "[codec][limits][reliability]") {
  auto refused_for = [](const herald::envelope& e, const herald::decode_limits& limits) {
    try {
      (void)herald::encode_envelope(e, limits);
    } catch (const herald::error& ex) {
      CHECK(ex.code() == herald::errc::limit_exceeded);
      return std::string(ex.what());
    }
    return std::string();
  };
  auto e = full_envelope();
  e.data = std::string(2 << 20, 'x');
  CHECK_THAT(refused_for(e, {}), herald_test::contains("over decode_limits::max_bytes (1048576)"));
  herald::decode_limits big;
  big.max_bytes = 4 << 20;
  CHECK(herald::decode_envelope(herald::encode_envelope(e, big), big).data == e.data);

  nlohmann::json deep = 1;
  for (int i = 0; i < 69; ++i) deep = nlohmann::json::array({deep});
  e.data = deep;
  CHECK_THAT(refused_for(e, {}),
             herald_test::contains("deeper than decode_limits::max_depth (64)"));
  herald::decode_limits deeper;
  deeper.max_depth = 80;
  CHECK_NOTHROW(herald::decode_envelope(herald::encode_envelope(e, deeper), deeper));
  // The boundary agrees with the decoder's: data nested to depth 64 in all passes both.
  nlohmann::json edge = 1;
  for (int i = 0; i < 63; ++i) edge = nlohmann::json::array({edge});
  e.data = edge;
  CHECK_NOTHROW(herald::decode_envelope(herald::encode_envelope(e)));
  e.data = nlohmann::json::array({edge});
  CHECK_FALSE(refused_for(e, {}).empty());
}

TEST_CASE("decode refuses a number too large for a double, which could not be encoded again",
          "[codec][reliability]") {
  auto failure = decode_failure(with(R"(,"data":{"total":1e400})"));
  CHECK(failure.code() == herald::errc::decode_failed);
  CHECK_THAT(failure.what(), herald_test::contains("1e400"));
  CHECK(herald::decode_envelope(with(R"(,"data":{"total":1e300})")).data->at("total") == 1e300);
}
