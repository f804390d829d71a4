// The bounded payload readers (msgpack and JSON).

#include "handlers/payload.h"

#include <gtest/gtest.h>

#include <msgpack.hpp>

namespace taskmill::worker {
namespace {

TEST(JsonTest, ReadsObjectsArraysStringsNumbersAndLiterals) {
  auto v = ParseJson(R"( {"a": [1, -2, 3.5, 1e3], "s": "x\"\\\n\u00e9\ud83d\ude00",
                          "t": true, "f": false, "n": null, "o": {}} )");
  ASSERT_TRUE(v) << v.error().message;
  ASSERT_TRUE(v->is_object());
  const Json* a = Find(*v, "a");
  ASSERT_TRUE(a);
  ASSERT_EQ(a->size(), 4u);
  EXPECT_EQ((*a)[0].get<int64_t>(), 1);
  EXPECT_EQ((*a)[1].get<int64_t>(), -2);
  EXPECT_DOUBLE_EQ((*a)[2].get<double>(), 3.5);
  EXPECT_DOUBLE_EQ((*a)[3].get<double>(), 1000);
  EXPECT_EQ(Find(*v, "s")->get<std::string>(), "x\"\\\n\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_TRUE(Find(*v, "t")->get<bool>());
  EXPECT_FALSE(Find(*v, "f")->get<bool>());
  EXPECT_TRUE(Find(*v, "n")->is_null());
  EXPECT_TRUE(Find(*v, "o")->is_object());
}

TEST(JsonTest, RejectsMalformedInput) {
  for (const char* bad :
       {"", "{", "{\"a\":}", "{\"a\":1,}", "[1 2]", "\"unterminated", "{\"a\":1} x", "01x",
        "\"\\ud800\"", "tru", "{\"a\":\"\x01\"}", "1e999"}) {
    EXPECT_FALSE(ParseJson(bad)) << bad;
  }
}

TEST(JsonTest, EnforcesDepthAndSizeLimits) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_FALSE(ParseJson(deep, PayloadLimits{.max_depth = 32}));
  EXPECT_FALSE(ParseJson("[1,2,3]", PayloadLimits{.max_items = 2}));
  EXPECT_FALSE(ParseJson("[1,2,3]", PayloadLimits{.max_bytes = 4}));
  EXPECT_FALSE(ParseJson(R"({"a":1,"b":2,"c":3})", PayloadLimits{.max_items = 2}));
  // At the limits exactly: accepted.
  std::string at(32, '[');
  at += std::string(32, ']');
  EXPECT_TRUE(ParseJson(at, PayloadLimits{.max_depth = 32}));
  EXPECT_TRUE(ParseJson("[1,2]", PayloadLimits{.max_items = 2}));
  auto deep_error = ParseJson(deep, PayloadLimits{.max_depth = 32});
  EXPECT_NE(deep_error.error().message.find("deeper than 32"), std::string::npos)
      << deep_error.error().message;
}

// nlohmann's own message, without its exception tag, says where the JSON went wrong.
TEST(JsonTest, ErrorsSayWhereAndWhat) {
  auto v = ParseJson(R"({"a": tru})");
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("not valid JSON"), std::string::npos) << v.error().message;
  EXPECT_EQ(v.error().message.find("[json.exception"), std::string::npos) << v.error().message;
}

TEST(JsonTest, RepeatedKeyKeepsTheLastValue) {
  auto v = ParseJson(R"({"k": 1, "k": 2})");
  ASSERT_TRUE(v);
  EXPECT_EQ(Find(*v, "k")->get<int64_t>(), 2);
}

TEST(MsgpackTest, ReadsMapsOfStringsBinsAndNumbers) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(3);
  pk.pack(std::string("s"));
  pk.pack(std::string("text"));
  pk.pack(std::string("b"));
  pk.pack_bin(3);
  pk.pack_bin_body("\x00\x01\x02", 3);
  pk.pack(std::string("n"));
  pk.pack(uint64_t{18446744073709551615ull});
  auto v = ParseMsgpack(std::string_view(buf.data(), buf.size()));
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(Find(*v, "s")->get<std::string>(), "text");
  EXPECT_EQ(Find(*v, "b")->get<std::string>(), std::string("\x00\x01\x02", 3));
  EXPECT_EQ(Find(*v, "n")->get<uint64_t>(), 18446744073709551615ull);
  auto n = GetUint(*v, "n");
  ASSERT_TRUE(n);
  EXPECT_EQ(**n, 18446744073709551615ull);
}

TEST(MsgpackTest, RejectsTruncatedTrailingAndOversizedInput) {
  EXPECT_FALSE(ParseMsgpack(""));
  EXPECT_FALSE(
      ParseMsgpack("\x82\xa1"
                   "a"));                              // map of 2, cut short
  EXPECT_FALSE(ParseMsgpack("\x80\x80"));              // trailing bytes
  EXPECT_FALSE(ParseMsgpack("\xdd\xff\xff\xff\xff"));  // array of 4 G elements in 5 bytes
  EXPECT_FALSE(ParseMsgpack("\xc1"));                  // never-used byte
  EXPECT_FALSE(ParseMsgpack("\x81\x01\x02"));          // non-string key
  EXPECT_FALSE(ParseMsgpack("\xd4\x01\x00"));          // fixext 1
  std::string deep(100, '\x91');                       // 100 nested arrays of one...
  deep += '\x01';                                      // ...holding 1
  auto d = ParseMsgpack(deep);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message.find("deeper than"), std::string::npos) << d.error().message;
  auto big = ParseMsgpack(std::string("\xdd\x00\x01\x00\x00", 5));  // 65536 in 5 bytes
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message.find("declares"), std::string::npos) << big.error().message;
}

TEST(PayloadTest, PicksJsonByItsOpeningBrace) {
  auto j = ParsePayload("  {\"x\": 1}");
  ASSERT_TRUE(j);
  EXPECT_EQ(Find(*j, "x")->get<int64_t>(), 1);
  auto m = ParsePayload(std::string("\x81\xa1x\x01", 4));
  ASSERT_TRUE(m);
  EXPECT_EQ(Find(*m, "x")->get<int64_t>(), 1);
}

// JSON arrays are JSON too; text that is neither is said to be text, not "trailing bytes".
TEST(PayloadTest, ReadsJsonArraysAndCallsOtherTextText) {
  auto a = ParsePayload(" [1, 2]");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_TRUE(a->is_array());
  auto text = ParsePayload("hello there");
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().message.find("trailing"), std::string::npos) << text.error().message;
  EXPECT_NE(text.error().message.find("'hello there'"), std::string::npos)
      << text.error().message;
}

TEST(PayloadTest, TypedGettersNameTheField) {
  auto v = ParseJson(R"({"ms": -1, "flag": "yes", "name": 3})");
  ASSERT_TRUE(v);
  auto ms = GetUint(*v, "ms");
  ASSERT_FALSE(ms);
  EXPECT_NE(ms.error().message.find("ms"), std::string::npos);
  EXPECT_FALSE(GetBool(*v, "flag"));
  EXPECT_FALSE(GetString(*v, "name"));
  auto missing = GetUint(*v, "absent");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
}

}  // namespace
}  // namespace taskmill::worker
