// exec artifacts: files left in $TASKMILL_ARTIFACTS_DIR are listed, hashed, kept inline or
// under --artifacts-dir; links, odd files and caps are refused; old task dirs are swept.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "handlers/artifacts.h"
#include "handlers/child_process.h"
#include "taskmill/shared/protocol/validate.h"
#include "taskmill/shared/sha256.h"
#include "taskmill/worker/builtins.h"
#include "test_support.h"

namespace taskmill::worker::testing {
namespace {

using J = nlohmann::json;

Outcome Exec(const std::string& script, const ExecOptions& options = {},
             const std::string& isolation = "directory") {
  return DirectExec(J{{"argv", {"sh", "-c", script}}, {"isolation", isolation}}.dump(), options,
                    "01ART0000000000000000000001")
      .outcome;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

TEST(ArtifactsTest, SmallFilesAreListedAndTravelInline) {
  Outcome o = Exec(
      "cd \"$TASKMILL_ARTIFACTS_DIR\" && printf hello > a.txt && mkdir -p sub && "
      "printf '\\001\\002' > sub/b.bin");
  ASSERT_TRUE(o.ok) << Why(o);
  ASSERT_EQ(o.artifacts.size(), 2u);
  EXPECT_EQ(o.artifacts[0].name, "a.txt");
  EXPECT_EQ(o.artifacts[0].size, 5u);
  EXPECT_EQ(o.artifacts[0].sha256, Sha256::Hex("hello"));
  EXPECT_EQ(o.artifacts[0].data, "hello");
  EXPECT_EQ(o.artifacts[0].uri, "");
  EXPECT_EQ(o.artifacts[1].name, "sub/b.bin");
  EXPECT_EQ(o.artifacts[1].data, std::string("\x01\x02", 2));
  EXPECT_TRUE(protocol::ValidateArtifacts(o.artifacts, "artifacts"));
}

TEST(ArtifactsTest, BigFilesAreKeptUnderTheArtifactsDir) {
  auto dir = TempDir::Create("taskmill-artifacts-test-");
  ASSERT_TRUE(dir);
  ExecOptions options;
  options.artifacts_dir = dir->path();
  options.artifacts_inline_bytes = 4;
  Outcome o = Exec("printf 'big file' > \"$TASKMILL_ARTIFACTS_DIR/big.txt\"; "
                   "printf ok > \"$TASKMILL_ARTIFACTS_DIR/ok\"",
                   options);
  ASSERT_TRUE(o.ok) << Why(o);
  ASSERT_EQ(o.artifacts.size(), 2u);
  const auto& big = o.artifacts[0];
  EXPECT_EQ(big.name, "big.txt");
  std::string path = dir->path() + "/01ART0000000000000000000001/1/big.txt";
  EXPECT_EQ(big.uri, "file://" + path);
  EXPECT_EQ(big.data, "");
  EXPECT_EQ(ReadFile(path), "big file");
  EXPECT_EQ(big.sha256, Sha256::Hex("big file"));
  EXPECT_EQ(o.artifacts[1].data, "ok");  // still within the inline budget
  EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
}

TEST(ArtifactsTest, SymlinksAreRefusedNotFollowed) {
  for (const char* script : {"ln -s /etc/passwd \"$TASKMILL_ARTIFACTS_DIR/pw\"",
                             "ln -s / \"$TASKMILL_ARTIFACTS_DIR/root\"",
                             "mkdir \"$TASKMILL_ARTIFACTS_DIR/d\" && "
                             "ln -s ../../.. \"$TASKMILL_ARTIFACTS_DIR/d/up\""}) {
    Outcome o = Exec(script);
    ASSERT_FALSE(o.ok) << script;
    EXPECT_EQ(o.error->code, "artifact_refused") << Why(o);
    EXPECT_NE(o.error->message.find("symbolic link"), std::string::npos) << Why(o);
    EXPECT_FALSE(o.error->retryable);
    EXPECT_TRUE(o.artifacts.empty());
  }
  // The artifacts dir itself swapped for a link to somewhere else.
  Outcome swapped = Exec("rmdir \"$TASKMILL_ARTIFACTS_DIR\" && ln -s / \"$TASKMILL_ARTIFACTS_DIR\"");
  ASSERT_FALSE(swapped.ok);
  EXPECT_EQ(swapped.error->code, "artifact_refused") << Why(swapped);
}

TEST(ArtifactsTest, NamesOutsideTheDirAreNotArtifactsAndOddNamesAreRefused) {
  // "../x" from the task lands beside the artifacts dir: not kept, not an error.
  Outcome up = Exec("printf x > \"$TASKMILL_ARTIFACTS_DIR/../escape\"");
  ASSERT_TRUE(up.ok) << Why(up);
  EXPECT_TRUE(up.artifacts.empty());
  Outcome odd = Exec("printf x > \"$TASKMILL_ARTIFACTS_DIR/with space\"");
  ASSERT_FALSE(odd.ok);
  EXPECT_EQ(odd.error->code, "artifact_refused") << Why(odd);
  Outcome fifo = Exec("mkfifo \"$TASKMILL_ARTIFACTS_DIR/pipe\"");
  ASSERT_FALSE(fifo.ok);
  EXPECT_EQ(fifo.error->code, "artifact_refused") << Why(fifo);
}

TEST(ArtifactsTest, CapsAreEnforcedWithClearErrors) {
  ExecOptions few;
  few.max_artifacts = 2;
  Outcome many = Exec("cd \"$TASKMILL_ARTIFACTS_DIR\" && touch a b c", few);
  ASSERT_FALSE(many.ok);
  EXPECT_EQ(many.error->code, "artifacts_too_large") << Why(many);
  EXPECT_NE(many.error->message.find("more than 2 artifacts"), std::string::npos) << Why(many);

  auto dir = TempDir::Create("taskmill-artifacts-test-");
  ASSERT_TRUE(dir);
  ExecOptions small;
  small.artifacts_dir = dir->path();
  small.max_artifact_bytes = 10;
  Outcome big = Exec("head -c 11 /dev/zero > \"$TASKMILL_ARTIFACTS_DIR/z\"", small);
  ASSERT_FALSE(big.ok);
  EXPECT_EQ(big.error->code, "artifacts_too_large") << Why(big);
  EXPECT_NE(big.error->message.find("more than 10 bytes"), std::string::npos) << Why(big);
  EXPECT_FALSE(std::filesystem::exists(dir->path() + "/01ART0000000000000000000001/1.partial"));

  ExecOptions inline_only;
  inline_only.artifacts_inline_bytes = 8;
  Outcome no_dir = Exec("head -c 9 /dev/zero > \"$TASKMILL_ARTIFACTS_DIR/z\"", inline_only);
  ASSERT_FALSE(no_dir.ok);
  EXPECT_EQ(no_dir.error->code, "artifacts_too_large") << Why(no_dir);
  EXPECT_NE(no_dir.error->message.find("--artifacts-dir"), std::string::npos) << Why(no_dir);

  // A failed process keeps its own error; the artifact problem is added to it.
  Outcome both = Exec("cd \"$TASKMILL_ARTIFACTS_DIR\" && touch a b c; exit 3", few);
  ASSERT_FALSE(both.ok);
  EXPECT_EQ(both.error->code, "exit_status");
  EXPECT_NE(both.error->message.find("artifacts not kept"), std::string::npos) << Why(both);
}

TEST(ArtifactsTest, FullIsolationKeepsArtifactsToo) {
  if (!CheckIsolationAvailable(IsolationLevel::kFull)) GTEST_SKIP() << "no full isolation here";
  Outcome o = Exec("printf inside > \"$TASKMILL_ARTIFACTS_DIR/f\"", {}, "full");
  ASSERT_TRUE(o.ok) << Why(o);
  ASSERT_EQ(o.artifacts.size(), 1u);
  EXPECT_EQ(o.artifacts[0].data, "inside");
}

TEST(ArtifactsTest, SweepRemovesTaskDirsPastTheRetention) {
  auto dir = TempDir::Create("taskmill-artifacts-sweep-");
  ASSERT_TRUE(dir);
  std::filesystem::create_directories(dir->path() + "/old/1");
  std::filesystem::create_directories(dir->path() + "/new/1");
  int64_t now = ::time(nullptr);
  utimbuf old_time{now - 49 * 3600, now - 49 * 3600};
  ASSERT_EQ(utime((dir->path() + "/old").c_str(), &old_time), 0);
  EXPECT_EQ(SweepArtifacts(dir->path(), 48, now), 1u);
  EXPECT_FALSE(std::filesystem::exists(dir->path() + "/old"));
  EXPECT_TRUE(std::filesystem::exists(dir->path() + "/new/1"));
  EXPECT_EQ(SweepArtifacts(dir->path(), 0, now), 0u);  // 0: keep forever
}

}  // namespace
}  // namespace taskmill::worker::testing
