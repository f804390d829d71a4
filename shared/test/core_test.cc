#include <gtest/gtest.h>

#include <set>

#include "taskmill/shared/backoff.h"
#include "taskmill/shared/clock.h"
#include "taskmill/shared/error.h"
#include "taskmill/shared/ids.h"
#include "taskmill/shared/log.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill {
namespace {

TEST(BackoffTest, ExponentialAndCapped) {
  BackoffPolicy p{100, 1000, 2.0, false};
  EXPECT_EQ(p.DelayFor(1), 100u);
  EXPECT_EQ(p.DelayFor(2), 200u);
  EXPECT_EQ(p.DelayFor(4), 800u);
  EXPECT_EQ(p.DelayFor(5), 1000u);
  EXPECT_EQ(p.DelayFor(1000), 1000u);   // no overflow for huge attempt numbers
  EXPECT_EQ(p.DelayFor(3, 0.1), 400u);  // no jitter: the draw is ignored
}

TEST(BackoffTest, FullJitterScalesTheDelay) {
  BackoffPolicy p{100, 1000, 3.0, true};
  EXPECT_EQ(p.DelayFor(2, 0.5), 150u);
  EXPECT_EQ(p.DelayFor(2, 0.0), 0u);
  EXPECT_EQ(p.DelayFor(3, 1.0), 900u);
}

TEST(ClockTest, FakeClockMovesOnlyWhenTold) {
  FakeClock c(1000);
  EXPECT_EQ(c.NowMs(), 1000);
  c.Advance(250);
  EXPECT_EQ(c.NowMs(), 1250);
  EXPECT_EQ(c.MonotonicMs(), 1250);
  EXPECT_GT(SystemClock::Instance().NowMs(), 1'600'000'000'000);
}

TEST(IdsTest, UniqueSortableAndWellFormed) {
  std::set<std::string> ids;
  std::string prev;
  for (int i = 0; i < 10000; ++i) {
    std::string id = NewId();
    ASSERT_EQ(id.size(), 26u);
    EXPECT_EQ(id.find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ"), std::string::npos);
    EXPECT_GE(id.substr(0, 10), prev.substr(0, std::min<size_t>(prev.size(), 10)));
    prev = id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 10000u);
}

TEST(IdsTest, RequestIdsAre32HexDigitsAndDistinct) {
  std::set<std::string> ids;
  for (int i = 0; i < 10000; ++i) {
    std::string id = NewRequestId();
    ASSERT_EQ(id.size(), 32u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_TRUE(protocol::ValidateRequestId(id));
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 10000u);
}

TEST(IdsTest, RandomHexHasTwoDigitsPerByteAndVaries) {
  EXPECT_EQ(RandomHex(0), "");
  for (size_t n : {1u, 3u, 16u, 40u}) {
    std::string hex = RandomHex(n);
    ASSERT_EQ(hex.size(), 2 * n);
    EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos) << hex;
  }
  EXPECT_NE(RandomHex(16), RandomHex(16));
}

TEST(ErrorTest, NamesRoundTrip) {
  for (int i = 0; i <= static_cast<int>(ErrorCode::kInternal); ++i) {
    auto code = static_cast<ErrorCode>(i);
    EXPECT_EQ(ErrorCodeFromName(ErrorCodeName(code)), code);
  }
  EXPECT_EQ(ErrorCodeFromName("something_new"), ErrorCode::kInternal);
  EXPECT_EQ((Error{ErrorCode::kTimeout, "late"}).ToString(), "timeout: late");
}

TEST(LogTest, LevelsAreValidated) {
  EXPECT_TRUE(SetLogLevel("debug"));
  EXPECT_FALSE(SetLogLevel("loud"));
  EXPECT_TRUE(SetLogLevel("info"));
  EXPECT_EQ(Logger("test.core"), Logger("test.core"));
}

}  // namespace
}  // namespace taskmill
