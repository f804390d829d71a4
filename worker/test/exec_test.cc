// The exec built-in, through a fake broker (cancel, timeout) and called directly.

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "taskmill/worker/builtins.h"
#include "test_support.h"

namespace taskmill::worker::testing {
namespace {

using protocol::Done;

TEST(ExecTest, CapturesExitCodeStdoutAndStderr) {
  DirectExec run(ExecArgs{.argv = {"sh", "-c", "echo out; echo err >&2; exit 3"}}.Pack());
  const Outcome& o = run.outcome;
  EXPECT_FALSE(o.ok);
  ASSERT_TRUE(o.error);
  EXPECT_EQ(o.error->code, "exit_status");
  EXPECT_TRUE(o.error->retryable) << "non-zero exit is retryable by default";
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(o.stdout_data, "out\n");
  EXPECT_EQ(o.stderr_data, "err\n");
  EXPECT_EQ(o.output, "out\n");
}

TEST(ExecTest, NonZeroExitIsNotRetryableWhenThePayloadSaysSo) {
  DirectExec run(ExecArgs{.argv = {"false"}, .retry_on_nonzero = false}.Pack());
  ASSERT_TRUE(run.outcome.error);
  EXPECT_EQ(run.outcome.exit_code, 1);
  EXPECT_FALSE(run.outcome.error->retryable);
}

TEST(ExecTest, SuccessFeedsStdinAndSetsEnv) {
  DirectExec run(ExecArgs{.argv = {"sh", "-c", "cat; printf \"|$GREETING\""},
                          .env = {{"GREETING", "hi"}},
                          .stdin_data = std::string("line1\nline2\n")}
                     .Pack());
  EXPECT_TRUE(run.outcome.ok) << (run.outcome.error ? run.outcome.error->message : "");
  EXPECT_EQ(run.outcome.exit_code, 0);
  EXPECT_EQ(run.outcome.output, "line1\nline2\n|hi");
}

TEST(ExecTest, TruncatesOutputKeepingItsTailAndMarksIt) {
  DirectExec run(ExecArgs{.argv = {"sh", "-c", "head -c 100000 /dev/zero | tr '\\0' a; printf END"},
                          .max_output_bytes = 10}
                     .Pack());
  EXPECT_TRUE(run.outcome.ok);
  EXPECT_EQ(run.outcome.stdout_data, "[truncated 99993 bytes]\naaaaaaaEND");
}

TEST(ExecTest, LargeStdoutAndStderrTogetherDoNotDeadlock) {
  DirectExec run(
      ExecArgs{.argv = {"sh", "-c", "head -c 3000000 /dev/zero; head -c 3000000 /dev/zero >&2"},
               .timeout_ms = 20'000}
          .Pack());
  EXPECT_TRUE(run.outcome.ok) << (run.outcome.error ? run.outcome.error->message : "");
  std::string marker = "[truncated " + std::to_string(3000000 - (1u << 20)) + " bytes]\n";
  EXPECT_TRUE(run.outcome.stdout_data.starts_with(marker));
  EXPECT_TRUE(run.outcome.stderr_data.starts_with(marker));
  EXPECT_EQ(run.outcome.stdout_data.size(), (1u << 20) + marker.size());
}

TEST(ExecTest, CostFileIsMergedWithCpuAndWallTime) {
  DirectExec run(ExecArgs{.argv = {"sh", "-c",
                                   "echo '{\"usd\": 0.002, \"tokens_in\": 512}' > "
                                   "\"$TASKMILL_COST_FILE\""}}
                     .Pack());
  EXPECT_TRUE(run.outcome.ok);
  EXPECT_DOUBLE_EQ(run.costs.at("usd"), 0.002);
  EXPECT_DOUBLE_EQ(run.costs.at("tokens_in"), 512);
  EXPECT_TRUE(run.costs.contains("cpu_ms"));
  EXPECT_TRUE(run.costs.contains("wall_ms"));
}

TEST(ExecTest, MalformedCostFileIsIgnored) {
  DirectExec run(
      ExecArgs{.argv = {"sh", "-c", "echo 'not json' > \"$TASKMILL_COST_FILE\""}}.Pack());
  EXPECT_TRUE(run.outcome.ok);
  EXPECT_FALSE(run.costs.contains("usd"));
  EXPECT_TRUE(run.costs.contains("cpu_ms"));
}

TEST(ExecTest, RunsInAFreshTempDirThatIsRemovedAfterwards) {
  DirectExec run(ExecArgs{.argv = {"sh", "-c", "touch made-here; pwd"}, .cwd = "sub/dir"}.Pack());
  ASSERT_TRUE(run.outcome.ok);
  std::string cwd = run.outcome.output.substr(0, run.outcome.output.size() - 1);
  EXPECT_TRUE(cwd.ends_with("/sub/dir")) << cwd;
  std::filesystem::path root = std::filesystem::path(cwd).parent_path().parent_path();
  EXPECT_NE(root.filename().string().find("taskmill-exec-"), std::string::npos) << root;
  EXPECT_FALSE(std::filesystem::exists(root)) << root << " should be removed";
}

TEST(ExecTest, TimeoutKillsTheWholeProcessGroup) {
  auto start = std::chrono::steady_clock::now();
  // The grandchild (backgrounded sleep) prints its pid; the shell waits on it.
  DirectExec run(
      ExecArgs{.argv = {"sh", "-c", "sleep 30 & echo $!; wait"}, .timeout_ms = 300}.Pack());
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 5s);
  ASSERT_TRUE(run.outcome.error);
  EXPECT_EQ(run.outcome.error->code, "timeout");
  EXPECT_TRUE(run.outcome.error->retryable);
  int grandchild = std::atoi(run.outcome.stdout_data.c_str());
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(grandchild); }, 5s))
      << "grandchild " << grandchild << " survived the timeout";
}

TEST(ExecTest, ExitKillsLeftoverProcessesOfTheTask) {
  // The shell exits at once, leaving a background child holding stdout open.
  auto start = std::chrono::steady_clock::now();
  DirectExec run(ExecArgs{.argv = {"sh", "-c", "sleep 30 & echo $!"}}.Pack());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_TRUE(run.outcome.ok);
  int leftover = std::atoi(run.outcome.stdout_data.c_str());
  ASSERT_GT(leftover, 0);
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(leftover); }, 5s));
}

TEST(ExecTest, MissingProgramIsANonRetryableSpawnFailure) {
  DirectExec run(ExecArgs{.argv = {"/nonexistent/program"}}.Pack());
  ASSERT_TRUE(run.outcome.error);
  EXPECT_EQ(run.outcome.error->code, "spawn_failed");
  EXPECT_FALSE(run.outcome.error->retryable);
}

TEST(ExecTest, BadPayloadsAreNonRetryable) {
  for (std::string payload : {std::string("\xc1"), ExecArgs{.argv = {}}.Pack(),
                              ExecArgs{.argv = {"true"}, .cwd = "../escape"}.Pack(),
                              std::string("{\"argv\": \"not-a-list\"}")}) {
    DirectExec run(payload);
    ASSERT_TRUE(run.outcome.error);
    EXPECT_EQ(run.outcome.error->code, "bad_payload");
    EXPECT_FALSE(run.outcome.error->retryable);
  }
}

// A JSON array (an argv given bare) is told what shape is wanted, not "trailing bytes".
TEST(ExecTest, AJsonArrayPayloadIsToldToBeAnObject) {
  DirectExec run(R"(["echo", "hi"])");
  ASSERT_TRUE(run.outcome.error);
  EXPECT_EQ(run.outcome.error->code, "bad_payload");
  EXPECT_NE(run.outcome.error->message.find("must be a map"), std::string::npos)
      << run.outcome.error->message;
  EXPECT_NE(run.outcome.error->message.find("not an array"), std::string::npos)
      << run.outcome.error->message;
}

TEST(ExecTest, AcceptsAJsonPayload) {
  DirectExec run(R"({"argv": ["sh", "-c", "printf %s \"$X\""], "env": {"X": "caf\u00e9"},
                     "timeout_ms": 5000})");
  EXPECT_TRUE(run.outcome.ok) << (run.outcome.error ? run.outcome.error->message : "");
  EXPECT_EQ(run.outcome.output, "caf\xc3\xa9");
}

TEST(ExecTest, CancelThroughTheBrokerKillsTheProcessQuickly) {
  FakeBroker broker;
  RunningWorker w(TestOptions(broker), [](Worker& wk) { RegisterBuiltins(wk); });
  ASSERT_TRUE(broker.WaitFor<protocol::Ready>(5s));
  char dir_template[] = "/tmp/taskmill-exec-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  std::string pid_file = std::string(dir_template) + "/pid";
  broker.Send(MakeTask(
      "t1", "exec",
      ExecArgs{.argv = {"sh", "-c", "echo $$ > " + pid_file + "; exec sleep 30"}}.Pack(), 21));
  int pid = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::ifstream in(pid_file);
        return static_cast<bool>(in >> pid) && pid > 0;
      },
      5s));
  auto sent = std::chrono::steady_clock::now();
  broker.Send(protocol::CancelTask{"t1", 21, "user asked"});
  auto done = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(done);
  EXPECT_LT(std::chrono::steady_clock::now() - sent, 2s);
  EXPECT_FALSE(done->ok);
  EXPECT_EQ(done->error->code, "cancelled");
  EXPECT_FALSE(done->error->retryable);
  EXPECT_EQ(done->exit_code, 128 + SIGKILL);
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(pid); }, 5s));
  std::filesystem::remove_all(dir_template);
}

TEST(ExecTest, ThroughTheBrokerReportsExitCodeOutputsAndCost) {
  FakeBroker broker;
  RunningWorker w(TestOptions(broker), [](Worker& wk) { RegisterBuiltins(wk); });
  ASSERT_TRUE(broker.WaitFor<protocol::Ready>(5s));
  broker.Send(MakeTask("t1", "exec",
                       ExecArgs{.argv = {"sh", "-c",
                                         "echo hi; echo oops >&2; echo '{\"usd\":1}' > "
                                         "$TASKMILL_COST_FILE; exit 4"},
                                .retry_on_nonzero = false}
                           .Pack()));
  auto done = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(done);
  EXPECT_FALSE(done->ok);
  EXPECT_EQ(done->exit_code, 4);
  EXPECT_EQ(done->stdout_data, "hi\n");
  EXPECT_EQ(done->stderr_data, "oops\n");
  EXPECT_EQ(done->error->code, "exit_status");
  EXPECT_FALSE(done->error->retryable);
  EXPECT_DOUBLE_EQ(done->cost.at("usd"), 1);
  EXPECT_TRUE(done->cost.contains("cpu_ms"));
  EXPECT_TRUE(done->cost.contains("wall_ms"));
}

}  // namespace
}  // namespace taskmill::worker::testing
