// One broker per --data-dir: the second is refused at once, naming the holder's pid.

#include "redis/data_dir_lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace taskmill::broker {
namespace {

class DataDirLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tm-lock-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(DataDirLockTest, ASecondHolderIsRefusedWithTheFirstOnesPid) {
  auto first = DataDirLock::Acquire(dir_.string());
  ASSERT_TRUE(first) << first.error().ToString();
  // flock locks belong to open file descriptions: a second open in this process conflicts
  // just as another broker's would.
  auto second = DataDirLock::Acquire(dir_.string());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kConflict);
  EXPECT_NE(second.error().message.find("pid " + std::to_string(getpid())), std::string::npos)
      << second.error().message;
  EXPECT_NE(second.error().message.find("its own --data-dir"), std::string::npos);
}

TEST_F(DataDirLockTest, ReleasedWhenTheHolderGoesAndAStaleFileDoesNotBlock) {
  {
    auto first = DataDirLock::Acquire(dir_.string());
    ASSERT_TRUE(first);
  }
  // The file is still there (with a pid nobody may hold now): only the lock counts.
  ASSERT_TRUE(std::filesystem::exists(dir_ / DataDirLock::kFileName));
  auto again = DataDirLock::Acquire(dir_.string());
  EXPECT_TRUE(again) << again.error().ToString();
  // Moving keeps it held.
  ASSERT_TRUE(again);
  DataDirLock moved = std::move(*again);
  EXPECT_FALSE(DataDirLock::Acquire(dir_.string()));
}

TEST_F(DataDirLockTest, AnUnusableDirIsAClearError) {
  auto r = DataDirLock::Acquire((dir_ / "missing" / "deeper").string());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("--data-dir"), std::string::npos);
}

}  // namespace
}  // namespace taskmill::broker
