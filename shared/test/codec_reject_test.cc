// Every way the decoder must refuse input: each with the right code and a message that
// names what was wrong and where.

#include <gtest/gtest.h>

#include "pack.h"

using namespace std::string_literals;

#include "taskmill/shared/protocol/codec.h"

namespace taskmill::protocol {
namespace {

using testing::Pack;

Error Rejects(Command c, const std::string& body, const DecodeLimits& limits = {}) {
  auto r = DecodeBody(c, body, limits);
  EXPECT_FALSE(r.has_value());
  return r.has_value() ? Error{} : r.error();
}

TEST(CodecRejectTest, WrongFrameCount) {
  std::string_view two[] = {"TM1", "\x41"};
  auto r = Decode(two);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kBadFrame);
  EXPECT_NE(r.error().message.find("got 2"), std::string::npos);
}

TEST(CodecRejectTest, UnknownVersion) {
  std::string_view frames[] = {"TM9", "\x41", "\x80"};
  auto r = Decode(frames);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnknownVersion);
  EXPECT_NE(r.error().message.find("TM9"), std::string::npos);
}

TEST(CodecRejectTest, UnknownCommand) {
  std::string_view frames[] = {"TM1", "\x7f", "\x80"};
  auto r = Decode(frames);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnknownCommand);
  EXPECT_NE(r.error().message.find("0x7f"), std::string::npos);
}

TEST(CodecRejectTest, CommandFrameMustBeOneByte) {
  std::string_view frames[] = {"TM1", "\x41\x41", "\x80"};
  auto r = Decode(frames);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kBadFrame);
}

TEST(CodecRejectTest, FrameOverTheSizeCap) {
  DecodeLimits limits;
  limits.max_frame_bytes = 8;
  Error e = Rejects(Command::kBye, Pack([](auto& p) {
                      p.pack_map(1);
                      p.pack(std::string("reason"));
                      p.pack(std::string("a long reason"));
                    }),
                    limits);
  EXPECT_EQ(e.code, ErrorCode::kBadFrame);
}

TEST(CodecRejectTest, BodyMustBeAMap) {
  Error e = Rejects(Command::kHeartbeat, Pack([](auto& p) { p.pack(std::vector<int>{1}); }));
  EXPECT_EQ(e.code, ErrorCode::kWrongType);
  EXPECT_NE(e.message.find("expected map, got array"), std::string::npos) << e.message;
}

TEST(CodecRejectTest, EmptyAndTruncatedBodies) {
  EXPECT_EQ(Rejects(Command::kHeartbeat, "").code, ErrorCode::kTruncated);
  std::string full = EncodeBody(Ready{"worker-1", {"default"}, {"echo"}, 4, {}, {}});
  for (size_t cut = 1; cut < full.size(); ++cut) {
    SCOPED_TRACE(cut);
    Error e = Rejects(Command::kReady, full.substr(0, cut));
    EXPECT_TRUE(e.code == ErrorCode::kTruncated || e.code == ErrorCode::kMissingField)
        << e.ToString();
  }
}

TEST(CodecRejectTest, WrongTypeNamesTheField) {
  std::string body = Pack([](auto& p) {
    p.pack_map(2);
    p.pack(std::string("req_id"));
    p.pack(1);
    p.pack(std::string("tasks"));
    p.pack_array(2);
    p.pack_map(1);
    p.pack(std::string("type"));
    p.pack(std::string("echo"));
    p.pack_map(2);
    p.pack(std::string("type"));
    p.pack(std::string("echo"));
    p.pack(std::string("priority"));
    p.pack(std::string("high"));
  });
  Error e = Rejects(Command::kSubmit, body);
  EXPECT_EQ(e.code, ErrorCode::kWrongType);
  EXPECT_EQ(e.message, "tasks[1].priority: expected unsigned integer, got string");
}

TEST(CodecRejectTest, MissingRequiredFieldIsNamed) {
  std::string body = Pack([](auto& p) {
    p.pack_map(2);
    p.pack(std::string("req_id"));
    p.pack(1);
    p.pack(std::string("tasks"));
    p.pack_array(1);
    p.pack_map(1);
    p.pack(std::string("queue"));
    p.pack(std::string("q"));
  });
  Error e = Rejects(Command::kSubmit, body);
  EXPECT_EQ(e.code, ErrorCode::kMissingField);
  EXPECT_EQ(e.message, "tasks[0]: missing required field 'type'");
  Error top = Rejects(Command::kDone, Pack([](auto& p) { p.pack_map(0); }));
  EXPECT_EQ(top.message, "body: missing required field 'task_id'");
}

TEST(CodecRejectTest, OutOfRangeValues) {
  auto spec_with = [](auto&& write_value, const char* key) {
    return Pack([&](auto& p) {
      p.pack_map(2);
      p.pack(std::string("type"));
      p.pack(std::string("echo"));
      p.pack(std::string(key));
      write_value(p);
    });
  };
  auto r = DecodeTaskSpec(spec_with([](auto& p) { p.pack(300); }, "priority"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message, "priority: 300 is over the maximum of 255");
  r = DecodeTaskSpec(spec_with([](auto& p) { p.pack(-1); }, "max_attempts"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("must not be negative"), std::string::npos);
  r = DecodeTaskSpec(spec_with([](auto& p) { p.pack(uint64_t{1} << 40); }, "timeout_ms"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST(CodecRejectTest, NonFiniteCostIsRejected) {
  std::string body = Pack([](auto& p) {
    p.pack_map(4);
    p.pack(std::string("task_id"));
    p.pack(std::string("t"));
    p.pack(std::string("token"));
    p.pack(1);
    p.pack(std::string("ok"));
    p.pack(true);
    p.pack(std::string("cost"));
    p.pack_map(1);
    p.pack(std::string("usd"));
    p.pack(std::numeric_limits<double>::quiet_NaN());
  });
  Error e = Rejects(Command::kDone, body);
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(e.message, "cost.usd: must be a finite number");
}

TEST(CodecRejectTest, UnknownEnumValue) {
  std::string body = Pack([](auto& p) {
    p.pack_map(2);
    p.pack(std::string("req_id"));
    p.pack(1);
    p.pack(std::string("op"));
    p.pack(std::string("explode"));
  });
  Error e = Rejects(Command::kDlq, body);
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(e.message, "op: unknown value 'explode' (allowed: list, retry, purge)");
}

TEST(CodecRejectTest, MapKeysMustBeStrings) {
  std::string body = Pack([](auto& p) {
    p.pack_map(1);
    p.pack(7);
    p.pack(1);
  });
  EXPECT_EQ(Rejects(Command::kHeartbeat, body).code, ErrorCode::kWrongType);
}

TEST(CodecRejectTest, HugeDeclaredSizesInTinyFramesAllocateNothing) {
  // fixmap{1}: "ids" -> array32 declaring 4,294,967,295 elements, then nothing.
  std::string body = "\x82\xa6req_id\x01\xa3ids\xdd\xff\xff\xff\xff"s;
  Error e = Rejects(Command::kWait, body);
  EXPECT_EQ(e.code, ErrorCode::kOverLimit);
  // The same within the element limit but beyond the bytes present is truncated input.
  std::string body2 = "\x82\xa6req_id\x01\xa3ids\xdd\x00\x00\x03\xe8"s;
  EXPECT_EQ(Rejects(Command::kWait, body2).code, ErrorCode::kTruncated);
  // A bare 5-byte frame: map32 of 4 billion entries.
  EXPECT_EQ(Rejects(Command::kSubmit, std::string("\xdf\xff\xff\xff\xff", 5)).code,
            ErrorCode::kOverLimit);
  // str32 and bin32 declaring 4 GiB.
  EXPECT_EQ(Rejects(Command::kBye, "\x81\xa6reason\xdb\xff\xff\xff\xff"s).code,
            ErrorCode::kOverLimit);
  std::string bin_body = "\x83\xa7task_id\xa1t\xa5token\x01\xa6output\xc6\xff\xff\xff\xff"s;
  EXPECT_EQ(Rejects(Command::kDone, bin_body).code, ErrorCode::kOverLimit);
}

TEST(CodecRejectTest, LimitsAreEnforced) {
  DecodeLimits limits;
  limits.max_array = 2;
  limits.max_map = 2;
  limits.max_str = 8;  // keys count too: "req_id" is 6
  limits.max_bin = 4;
  limits.max_depth = 3;
  Error e = Rejects(Command::kWait, EncodeBody(Wait{1, {"a", "b", "c"}, 0}), limits);
  EXPECT_EQ(e.code, ErrorCode::kOverLimit);
  EXPECT_EQ(e.message, "ids: array of 3 entries is over the limit of 2");
  EXPECT_EQ(Rejects(Command::kBye, EncodeBody(Bye{"much too long"}), limits).code,
            ErrorCode::kOverLimit);
  Done d;
  d.task_id = "t";
  d.output = "12345";
  EXPECT_EQ(Rejects(Command::kDone, EncodeBody(d), limits).code, ErrorCode::kOverLimit);
  EXPECT_EQ(Rejects(Command::kHeartbeat, Pack([](auto& p) {
                      p.pack_map(3);
                      for (int i = 0; i < 3; ++i) {
                        p.pack(std::string(1, 'a' + i));
                        p.pack(i);
                      }
                    }),
                    limits)
                .code,
            ErrorCode::kOverLimit);
}

TEST(CodecRejectTest, DeepNestingInUnknownFieldsIsBounded) {
  std::string body = "\x81\xa1x";
  for (int i = 0; i < 100; ++i) body += "\x91";  // 100 nested one-element arrays
  body += "\x01";
  Error e = Rejects(Command::kHeartbeat, body);
  EXPECT_EQ(e.code, ErrorCode::kOverLimit);
  EXPECT_NE(e.message.find("nesting deeper than 16"), std::string::npos);
}

TEST(CodecRejectTest, TotalElementsAreBounded) {
  DecodeLimits limits;
  limits.max_elements = 10;
  Error e =
      Rejects(Command::kWait, EncodeBody(Wait{1, std::vector<std::string>(20, "x"), 0}), limits);
  EXPECT_EQ(e.code, ErrorCode::kOverLimit);
}

TEST(CodecRejectTest, TrailingBytesAfterTheBody) {
  std::string body = EncodeBody(Heartbeat{1}) + "\x00"s;
  EXPECT_EQ(Rejects(Command::kHeartbeat, body).code, ErrorCode::kBadFrame);
}

TEST(CodecRejectTest, ReservedAndExtValuesInUnknownFields) {
  std::string reserved("\x81\xa1x\xc1", 4);
  EXPECT_EQ(Rejects(Command::kHeartbeat, reserved).code, ErrorCode::kWrongType);
  std::string ext("\x81\xa1x\xd4\x01\x02", 6);  // fixext1 is skipped as an unknown value
  EXPECT_TRUE(DecodeBody(Command::kHeartbeat, ext).has_value());
  std::string short_ext("\x81\xa1x\xc7\x05\x01\x02", 7);
  EXPECT_EQ(Rejects(Command::kHeartbeat, short_ext).code, ErrorCode::kTruncated);
}

TEST(CodecRejectTest, HugeIntegersInDoubleFieldsReencode) {
  // Found by the decode fuzzer: a uint64 max for a double decodes to 2^64, which the
  // encoder once converted to uint64_t (undefined behaviour). It is written as float64;
  // integral doubles below 2^64 keep their integer form.
  std::string body =
      "\x83\xa7task_id\xa1t\xa5token\x01\xa8"
      "fraction\xcf\xff\xff\xff\xff\xff\xff\xff\xff"s;
  auto decoded = DecodeBody(Command::kProgress, body);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(std::get<Progress>(*decoded).fraction, 18446744073709551616.0);
  std::string again = EncodeBody(*decoded);
  EXPECT_NE(again.find("\xa8"
                       "fraction\xcb\x43\xf0\x00\x00\x00\x00\x00\x00"s),
            std::string::npos);
  auto redecoded = DecodeBody(Command::kProgress, again);
  ASSERT_TRUE(redecoded.has_value()) << redecoded.error().ToString();
  EXPECT_EQ(*redecoded, *decoded);

  Progress p{"t", 1, 9223372036854775808.0, ""};  // 2^63: integral and below 2^64, so uint64
  EXPECT_NE(EncodeBody(p).find("\xa8"
                               "fraction\xcf\x80\x00"s),
            std::string::npos);
  p.fraction = -9223372036854775808.0;  // -2^63: int64 min
  EXPECT_NE(EncodeBody(p).find("\xa8"
                               "fraction\xd3\x80\x00"s),
            std::string::npos);
  Done d;
  d.task_id = "t";
  d.cost = {{"usd", -0.0}};  // written as the integer 0 (as a field, -0.0 is the default)
  EXPECT_NE(EncodeBody(d).find("\xa4"
                               "cost\x81\xa3usd\x00"s),
            std::string::npos);
}

}  // namespace
}  // namespace taskmill::protocol
