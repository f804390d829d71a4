#include "taskmill/shared/protocol/codec.h"

#include <gtest/gtest.h>

#include "pack.h"
#include "sample_messages.h"

namespace taskmill::protocol {
namespace {

Result<Message> DecodeFrames(const Frames& f) {
  std::string_view views[] = {f.version, f.command, f.body};
  return Decode(views);
}

using testing::Pack;

TEST(CodecTest, EverySampleRoundTrips) {
  for (const auto& sample : testing::SampleMessages()) {
    SCOPED_TRACE(sample.name);
    Frames f = Encode(sample.message);
    EXPECT_EQ(f.version, "TM1");
    ASSERT_EQ(f.command.size(), 1u);
    auto decoded = DecodeFrames(f);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
    EXPECT_TRUE(*decoded == sample.message);
    EXPECT_EQ(CommandOf(*decoded), CommandOf(sample.message));
  }
}

TEST(CodecTest, DefaultsAreOmittedAndRequiredFieldsKept) {
  TaskSpec spec;
  spec.type = "echo";
  // {"type": "echo"}: queue, priority, max_attempts, backoff at their defaults are omitted.
  EXPECT_EQ(EncodeTaskSpec(spec), std::string("\x81\xa4type\xa4"
                                              "echo",
                                              11));
  // An empty heartbeat body is an empty map.
  EXPECT_EQ(EncodeBody(BrokerHeartbeat{}), std::string("\x80", 1));
  // req_id is required, so it is written even when zero.
  EXPECT_EQ(EncodeBody(Stats{}), std::string("\x81\xa6req_id\x00", 9));
}

TEST(CodecTest, NonDefaultBackoffIsWrittenAsAMap) {
  TaskSpec spec;
  spec.type = "echo";
  spec.backoff.base_ms = 10;
  auto decoded = DecodeTaskSpec(EncodeTaskSpec(spec));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->backoff.base_ms, 10u);
  EXPECT_EQ(decoded->backoff.max_ms, BackoffPolicy{}.max_ms);
}

TEST(CodecTest, UnknownKeysAreIgnoredWhateverTheirShape) {
  std::string body = Pack([](auto& p) {
    p.pack_map(3);
    p.pack(std::string("future_field"));
    p.pack_map(1);
    p.pack(std::string("x"));
    p.pack(std::vector<int>{1, 2, 3});
    p.pack(std::string("free"));
    p.pack(5);
    p.pack(std::string("another"));
    p.pack(3.5);
  });
  auto decoded = DecodeBody(Command::kHeartbeat, body);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(std::get<Heartbeat>(*decoded).free, 5u);
}

TEST(CodecTest, NilMeansAbsent) {
  std::string body = Pack([](auto& p) {
    p.pack_map(3);
    p.pack(std::string("type"));
    p.pack(std::string("echo"));
    p.pack(std::string("queue"));
    p.pack_nil();
    p.pack(std::string("priority"));
    p.pack_nil();
  });
  auto spec = DecodeTaskSpec(body);
  ASSERT_TRUE(spec.has_value()) << spec.error().ToString();
  EXPECT_EQ(spec->queue, "default");
  EXPECT_EQ(spec->priority, 0);
}

TEST(CodecTest, LenientWhereOtherEncodersDiffer) {
  // payload as str instead of bin, a double written as an integer, a uint written signed.
  std::string body = Pack([](auto& p) {
    p.pack_map(2);
    p.pack(std::string("task"));
    p.pack_map(0);
    p.pack(std::string("x"));
    p.pack(1);
  });
  EXPECT_FALSE(DecodeBody(Command::kResult, body).has_value());  // task.id is required

  std::string done = Pack([](auto& p) {
    p.pack_map(5);
    p.pack(std::string("task_id"));
    p.pack(std::string("t"));
    p.pack(std::string("token"));
    p.pack_int64(-0 + 9);  // positive fixint
    p.pack(std::string("ok"));
    p.pack(true);
    p.pack(std::string("output"));
    p.pack(std::string("text output"));
    p.pack(std::string("cost"));
    p.pack_map(1);
    p.pack(std::string("usd"));
    p.pack(2);
  });
  auto decoded = DecodeBody(Command::kDone, done);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  const auto& d = std::get<Done>(*decoded);
  EXPECT_EQ(d.output, "text output");
  EXPECT_EQ(d.cost.at("usd"), 2.0);
  EXPECT_EQ(d.token, 9u);
}

TEST(CodecTest, TaskSpecRoundTripsOnItsOwn) {
  auto samples = testing::SampleMessages();
  const auto& submit = std::get<Submit>(samples[1].message);
  for (const auto& spec : submit.tasks) {
    auto decoded = DecodeTaskSpec(EncodeTaskSpec(spec));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*decoded, spec);
  }
}

TEST(CodecTest, NamesRoundTrip) {
  for (auto s : {TaskState::kQueued, TaskState::kDelayed, TaskState::kBlocked, TaskState::kRunning,
                 TaskState::kSucceeded, TaskState::kFailed, TaskState::kCancelled}) {
    EXPECT_EQ(TaskStateFromName(TaskStateName(s)), s);
  }
  EXPECT_EQ(TaskStateFromName("from-the-future"), TaskState::kUnknown);
  EXPECT_TRUE(IsTerminal(TaskState::kCancelled));
  EXPECT_FALSE(IsTerminal(TaskState::kRunning));
  EXPECT_STREQ(CommandName(Command::kDone), "DONE");
}

}  // namespace
}  // namespace taskmill::protocol
