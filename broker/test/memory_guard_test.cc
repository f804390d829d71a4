// MemoryGuard without Redis: the submit limit's arithmetic, INFO parsing, and admission
// against a reading plus what was admitted since it.

#include "service/memory_guard.h"

#include <gtest/gtest.h>

namespace taskmill::broker {
namespace {

constexpr uint64_t kMiB = 1 << 20;

TEST(MemoryGuardTest, LimitIsMaxmemoryLessTheHeadroom) {
  EXPECT_EQ(SubmitLimitBytes(100 * kMiB, 10), 90 * kMiB);
  EXPECT_EQ(SubmitLimitBytes(1000, 25), 750u);
  EXPECT_EQ(SubmitLimitBytes(1001, 10), 901u);  // headroom rounds down: 100.1 -> 100
  EXPECT_EQ(SubmitLimitBytes(0, 10), 0u) << "no maxmemory: no limit";
  // No overflow near the top of the range.
  uint64_t huge = ~uint64_t{0};
  EXPECT_EQ(SubmitLimitBytes(huge, 50), huge - (huge / 100 * 50 + huge % 100 * 50 / 100));
  EXPECT_LT(SubmitLimitBytes(huge, 50), huge);
  EXPECT_GT(SubmitLimitBytes(huge, 50), huge / 100 * 49);
}

TEST(MemoryGuardTest, ParsesUsedAndMaxFromInfo) {
  auto r = ParseInfoMemory(
      "# Memory\r\nused_memory:1234567\r\nused_memory_human:1.18M\r\nused_memory_rss:9\r\n"
      "maxmemory:8388608\r\nmaxmemory_human:8.00M\r\nmaxmemory_policy:noeviction\r\n");
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->used_bytes, 1234567u);
  EXPECT_EQ(r->max_bytes, 8388608u);
  EXPECT_FALSE(ParseInfoMemory("used_memory:12\r\n").has_value());
  EXPECT_FALSE(ParseInfoMemory("used_memory:12x\r\nmaxmemory:0\r\n").has_value());
  EXPECT_FALSE(ParseInfoMemory("").has_value());
}

TEST(MemoryGuardTest, EstimateCountsPayloadLabelsAndOverhead) {
  protocol::TaskSpec a, b;
  a.payload = std::string(100, 'x');
  b.labels = {{"k", "vv"}};
  EXPECT_EQ(EstimateTaskBytes({a, b}), 2 * kTaskOverheadBytes + 2 * (100 + 3));
}

TEST(MemoryGuardTest, AdmitsUntilReadingPlusAdmittedReachesTheLimit) {
  MemoryGuard guard(10);  // maxmemory 10 MiB: limit 9 MiB
  EXPECT_TRUE(guard.Admit(100 * kMiB)) << "no reading yet: nothing is known, nothing refused";
  guard.OnReading({8 * kMiB, 10 * kMiB});
  EXPECT_EQ(guard.limit_bytes(), 9 * kMiB);
  EXPECT_TRUE(guard.Admit(kMiB / 2));
  EXPECT_FALSE(guard.full());
  EXPECT_TRUE(guard.Admit(kMiB / 2));  // 8.5 MiB reckoned before it: admitted
  EXPECT_TRUE(guard.full());           // 9 MiB reckoned now
  auto refused = guard.Admit(1);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kStoreFull);
  EXPECT_NE(refused.error().message.find("9.0 MiB used of 10.0 MiB"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(guard.refused(), 1u);
  EXPECT_NE(guard.Warning(), "");
  // A new reading replaces the estimate: memory was freed, tasks are admitted again.
  guard.OnReading({5 * kMiB, 10 * kMiB});
  EXPECT_FALSE(guard.full());
  EXPECT_TRUE(guard.Admit(1));
  EXPECT_EQ(guard.Warning(), "");
  // Used memory at the limit refuses.
  guard.OnReading({9 * kMiB, 10 * kMiB});
  EXPECT_FALSE(guard.Admit(0).has_value());
  EXPECT_EQ(guard.refused(), 2u);
}

TEST(MemoryGuardTest, NoMaxmemoryRefusesNothing) {
  MemoryGuard guard(10);
  guard.OnReading({uint64_t{1} << 40, 0});
  EXPECT_FALSE(guard.full());
  EXPECT_TRUE(guard.Admit(uint64_t{1} << 40));
  EXPECT_EQ(guard.refused(), 0u);
}

}  // namespace
}  // namespace taskmill::broker
