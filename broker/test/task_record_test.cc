// The lean task record (store/task_record.h): what the broker encodes is what it decodes,
// field for field; bytes that are not a record are an error, never a crash; the dashboard's
// flat view names every field it used to read, and never the owner.

#include "store/task_record.h"

#include <gtest/gtest.h>

namespace taskmill::broker::record {
namespace {

protocol::TaskSpec FullSpec() {
  protocol::TaskSpec s;
  s.queue = "q1";
  s.type = "resize";
  s.name = "step-2";
  s.payload = std::string(300, 'x');
  s.priority = 200;
  s.max_attempts = 7;
  s.backoff = BackoffPolicy{250, 90000, 1.5, true};
  s.timeout_ms = 4000;
  s.idempotency_key = "order-9";
  s.not_before_ms = 1'700'000'000'123;
  s.depends_on = {"p1", "p2"};
  s.labels = {{"team", "a"}, {"env", "prod"}};
  return s;
}

TEST(TaskRecordTest, ASpecDecodesToWhatWasEncoded) {
  protocol::TaskSpec s = FullSpec();
  auto d = DecodeSpec(EncodeSpec(s, "b-1", "owner-key", 1'700'000'000'999));
  ASSERT_TRUE(d.has_value()) << d.error().ToString();
  EXPECT_EQ(d->queue, "q1");
  EXPECT_EQ(d->type, "resize");
  EXPECT_EQ(d->batch_id, "b-1");
  EXPECT_EQ(d->name, "step-2");
  EXPECT_EQ(d->priority, 200);
  EXPECT_EQ(d->max_attempts, 7u);
  EXPECT_EQ(d->timeout_ms, 4000u);
  EXPECT_EQ(d->backoff, s.backoff);
  EXPECT_EQ(d->not_before_ms, s.not_before_ms);
  EXPECT_EQ(d->created_ms, 1'700'000'000'999);
  EXPECT_EQ(d->owner, "owner-key");
  EXPECT_EQ(d->idempotency_key, "order-9");
  EXPECT_EQ(d->parents, s.depends_on);
  EXPECT_EQ(d->labels, s.labels);
}

TEST(TaskRecordTest, AResultDecodesToWhatWasEncoded) {
  protocol::Done done;
  done.output = std::string(70000, 'o');  // past a 16-bit length
  done.exit_code = -3;
  done.stdout_data = "so";
  done.stderr_data = "se";
  done.duration_ms = 123456;
  protocol::TaskInfo t;
  ASSERT_TRUE(DecodeResult(EncodeResult(done), t).has_value());
  EXPECT_EQ(t.output, done.output);
  EXPECT_EQ(t.exit_code, std::optional<int32_t>(-3));
  EXPECT_EQ(t.stdout_data, "so");
  EXPECT_EQ(t.stderr_data, "se");
  EXPECT_EQ(t.duration_ms, 123456u);
  done.exit_code.reset();
  protocol::TaskInfo none;
  ASSERT_TRUE(DecodeResult(EncodeResult(done), none).has_value());
  EXPECT_FALSE(none.exit_code.has_value());
}

// Artifacts ride at the end of `res`, only when there are any, so records written before
// them still decode (and Lua's unpack_limit of the first values is unaffected).
TEST(TaskRecordTest, ArtifactsRoundTripAndOldResultsStillDecode) {
  protocol::Done done;
  done.duration_ms = 5;
  done.output = "o";
  done.artifacts = {protocol::Artifact{"a/b.txt", 3, std::string(64, 'a'), "", "xyz"},
                    protocol::Artifact{"big", 1u << 30, std::string(64, 'b'),
                                       "file:///data/t/1/big", ""}};
  protocol::TaskInfo t;
  ASSERT_TRUE(DecodeResult(EncodeResult(done), t).has_value());
  EXPECT_EQ(t.artifacts, done.artifacts);
  EXPECT_EQ(t.output, "o");
  done.artifacts.clear();
  protocol::TaskInfo old;
  ASSERT_TRUE(DecodeResult(EncodeResult(done), old).has_value());
  EXPECT_TRUE(old.artifacts.empty());
  std::string broken = EncodeResult(done) + "\x91\x92\xa1x\x01";  // one artifact of 2 fields
  protocol::TaskInfo bad;
  EXPECT_FALSE(DecodeResult(broken, bad).has_value());
}

TEST(TaskRecordTest, BytesThatAreNotARecordAreAnErrorNotACrash) {
  std::string spec = EncodeSpec(FullSpec(), "", "", 1);
  for (size_t cut = 0; cut < spec.size(); ++cut) {
    auto d = DecodeSpec(std::string_view(spec).substr(0, cut));
    EXPECT_FALSE(d.has_value()) << "a spec cut at " << cut << " of " << spec.size();
    if (!d) {
      EXPECT_EQ(d.error().code, ErrorCode::kInternal);
    }
  }
  EXPECT_FALSE(DecodeSpec("\xdd\xff\xff\xff\xff").has_value());  // a 4-billion-element array
  protocol::TaskInfo t;
  EXPECT_FALSE(DecodeResult("\xc1", t).has_value());  // never used in msgpack
  auto missing = TaskFromFields({{"state", "queued"}}, {});
  EXPECT_FALSE(missing.has_value());
}

}  // namespace
}  // namespace taskmill::broker::record
