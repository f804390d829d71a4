// The embedded Redis's automatic maxmemory (redis/memory_limit.h): half of the smaller of the
// machine's memory and the cgroup's limit, never "no limit" when the memory is known.
#include "redis/memory_limit.h"

#include <gtest/gtest.h>

namespace taskmill::broker {
namespace {

constexpr uint64_t kGiB = 1024ull * 1024 * 1024;

TEST(MemoryLimitTest, HalfOfTheMachineWithoutACgroupLimit) {
  EXPECT_EQ(AutoMaxmemoryMb(24 * kGiB, std::nullopt), 12u * 1024);
}

TEST(MemoryLimitTest, HalfOfTheCgroupLimitWhenItIsSmaller) {
  EXPECT_EQ(AutoMaxmemoryMb(24 * kGiB, 2 * kGiB), 1024u);
  EXPECT_EQ(AutoMaxmemoryMb(2 * kGiB, 24 * kGiB), 1024u);  // the machine is the smaller
}

TEST(MemoryLimitTest, NeverBelowTheFloorAndZeroOnlyWhenUnknown) {
  EXPECT_EQ(AutoMaxmemoryMb(64ull * 1024 * 1024, std::nullopt), 64u);
  EXPECT_EQ(AutoMaxmemoryMb(0, std::nullopt), 0u);
}

TEST(MemoryLimitTest, CgroupFileText) {
  EXPECT_EQ(ParseCgroupMemoryMax("max\n"), std::nullopt);
  EXPECT_EQ(ParseCgroupMemoryMax("1073741824\n"), std::optional<uint64_t>(kGiB));
  EXPECT_EQ(ParseCgroupMemoryMax(""), std::nullopt);
  EXPECT_EQ(ParseCgroupMemoryMax("12abc"), std::nullopt);
}

TEST(MemoryLimitTest, ThisMachineGetsALimit) {
  uint32_t mb = AutoMaxmemoryMbHere();
  EXPECT_GE(mb, 64u);
}

}  // namespace
}  // namespace taskmill::broker
