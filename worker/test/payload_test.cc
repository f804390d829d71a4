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
  ASSERT_EQ(v->kind(), Value::Kind::kMap);
  const Value* a = v->Find("a");
  ASSERT_TRUE(a);
  ASSERT_EQ(a->items().size(), 4u);
  EXPECT_EQ(a->items()[0].as_int(), 1);
  EXPECT_EQ(a->items()[1].as_int(), -2);
  EXPECT_DOUBLE_EQ(a->items()[2].as_double(), 3.5);
  EXPECT_DOUBLE_EQ(a->items()[3].as_double(), 1000);
  EXPECT_EQ(v->Find("s")->as_string(), "x\"\\\n\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_TRUE(v->Find("t")->as_bool());
  EXPECT_FALSE(v->Find("f")->as_bool());
  EXPECT_TRUE(v->Find("n")->is_null());
  EXPECT_EQ(v->Find("o")->kind(), Value::Kind::kMap);
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
  EXPECT_EQ(v->Find("s")->as_string(), "text");
  EXPECT_EQ(v->Find("b")->as_string(), std::string("\x00\x01\x02", 3));
  EXPECT_EQ(v->Find("n")->kind(), Value::Kind::kDouble);
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
}

TEST(PayloadTest, PicksJsonByItsOpeningBrace) {
  auto j = ParsePayload("  {\"x\": 1}");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->Find("x")->as_int(), 1);
  auto m = ParsePayload(std::string("\x81\xa1x\x01", 4));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->Find("x")->as_int(), 1);
}

// JSON arrays are JSON too; text that is neither is said to be text, not "trailing bytes".
TEST(PayloadTest, ReadsJsonArraysAndCallsOtherTextText) {
  auto a = ParsePayload(" [1, 2]");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->kind(), Value::Kind::kArray);
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
