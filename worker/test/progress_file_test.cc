// The exec built-in's $TASKMILL_PROGRESS_FILE tail (handlers/progress_file.h), on real files:
// only appended lines are read, the latest valid one wins, bad and over-long lines are
// counted and skipped, a last line without its newline counts only once the process ended,
// and a symlink is never followed.

#include "handlers/progress_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace taskmill::worker {
namespace {

class ProgressFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tm-progress-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/progress.jsonl";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Append(const std::string& text) {
    std::ofstream(path_, std::ios::app | std::ios::binary) << text;
  }
  std::string dir_, path_;
};

TEST_F(ProgressFileTest, TheLatestValidAppendedLineIsReported) {
  ProgressFileTail tail(path_);
  EXPECT_FALSE(tail.Poll()) << "no file yet";
  Append("{\"progress\": 0.1, \"message\": \"a\"}\n{\"progress\": 0.4, \"message\": \"b\"}\n");
  Append("not json\n{\"message\": \"no fraction\"}\n{\"progress\": \"x\"}\n\n");
  auto line = tail.Poll();
  ASSERT_TRUE(line);
  EXPECT_DOUBLE_EQ(line->fraction, 0.4);
  EXPECT_EQ(line->message, "b");
  EXPECT_EQ(tail.bad_lines(), 3u) << "the blank line is not an error";
  EXPECT_FALSE(tail.Poll()) << "nothing new";
  Append("{\"progress\": 7}");  // no newline yet: not a whole line while the process runs
  EXPECT_FALSE(tail.Poll());
  Append("\n");
  line = tail.Poll();
  ASSERT_TRUE(line);
  EXPECT_DOUBLE_EQ(line->fraction, 1.0) << "clamped";
  Append("{\"progress\": 0.9, \"message\": \"last\"}");
  line = tail.Finish();
  ASSERT_TRUE(line) << "after the exit a last line without its newline counts";
  EXPECT_EQ(line->message, "last");
}

TEST_F(ProgressFileTest, AnOverLongLineIsSkippedToItsEndAndCounted) {
  ProgressFileTail tail(path_);
  Append("{\"progress\": 0.2, \"message\": \"" +
         std::string(ProgressFileTail::kMaxLineBytes, 'x') + "\"}\n");
  Append("{\"progress\": 0.3, \"message\": \"" + std::string(600, 'm') + "\"}\n");
  auto line = tail.Poll();
  ASSERT_TRUE(line);
  EXPECT_DOUBLE_EQ(line->fraction, 0.3);
  EXPECT_EQ(line->message.size(), 512u) << "the message is cut to 512 bytes";
  EXPECT_EQ(tail.bad_lines(), 1u);
}

TEST_F(ProgressFileTest, ASymlinkIsNotFollowed) {
  std::string target = dir_ + "/elsewhere";
  std::ofstream(target) << "{\"progress\": 0.5}\n";
  std::filesystem::create_symlink(target, path_);
  ProgressFileTail tail(path_);
  EXPECT_FALSE(tail.Poll());
  EXPECT_FALSE(tail.Finish());
}

}  // namespace
}  // namespace taskmill::worker
