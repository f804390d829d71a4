// The CLI in-process: usage errors exit 2 naming the flag; help exits 0. (Commands that
// reach a broker are tested against a real one in cli_integration_test.cc.)

#include "cli/cli.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "cli_runner.h"

namespace taskmill::client::cli {
namespace {

using Run = client::testing::CliRun;

Run Cli(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) {
  return client::testing::RunCliInProcess(std::move(args), env);
}

void ExpectUsage(std::vector<std::string> args, const std::string& needle) {
  auto r = Cli(args);
  EXPECT_EQ(r.code, 2) << args.front();
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
}

TEST(CliTest, HelpExitsZero) {
  auto r = Cli({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("exit codes"), std::string::npos);
  for (const char* cmd : {"submit", "get", "wait", "cancel", "stats"}) {
    auto c = Cli({cmd, "--help"});
    EXPECT_EQ(c.code, 0) << cmd;
    EXPECT_NE(c.out.find("usage: taskmill " + std::string(cmd)), std::string::npos) << c.out;
  }
  EXPECT_EQ(Cli({"batch", "--help"}).code, 0);
  EXPECT_NE(Cli({"batch", "--help"}).out.find("\"depends_on\""), std::string::npos);
  EXPECT_EQ(Cli({"dlq", "--help"}).code, 0);
}

TEST(CliTest, UsageErrorsExitTwoAndNameTheProblem) {
  ExpectUsage({}, "no command given");
  ExpectUsage({"explode"}, "unknown command 'explode'");
  ExpectUsage({"--nope", "stats"}, "unknown flag '--nope'");
  ExpectUsage({"--timeout-ms", "0", "stats"}, "--timeout-ms");
  ExpectUsage({"submit"}, "--type: required");
  ExpectUsage({"submit", "--type", "echo", "--priority", "300"}, "--priority: 300 is out of range");
  ExpectUsage({"submit", "--type", "echo", "--max-attempts", "0"}, "--max-attempts");
  ExpectUsage({"submit", "--type", "echo", "--backoff-multiplier", "0.5"}, "--backoff-multiplier");
  ExpectUsage({"submit", "--type", "echo", "--label", "novalue"}, "--label: 'novalue'");
  ExpectUsage({"submit", "--type", "bad type"}, "invalid task: type:");
  ExpectUsage({"submit", "--type", "echo", "--payload", "x", "--payload-file", "f"},
              "--payload and --payload-file");
  ExpectUsage({"submit", "--type", "echo", "--payload-file", "/nonexistent"}, "--payload-file");
  ExpectUsage({"submit", "--type", "echo", "extra"}, "unexpected argument 'extra'");
  ExpectUsage({"get"}, "give at least one task id");
  ExpectUsage({"wait", "--wait-timeout-ms", "x", "id"}, "--wait-timeout-ms");
  ExpectUsage({"cancel"}, "give task ids or --batch");
  ExpectUsage({"cancel", "a", "--batch", "b"}, "give task ids or --batch");
  ExpectUsage({"batch"}, "give run, status, watch, cancel, list or append");
  ExpectUsage({"batch", "fly"}, "unknown operation 'fly'");
  ExpectUsage({"batch", "list", "--state", "done"}, "allowed: running, succeeded, partial, failed");
  ExpectUsage({"list", "--state", "queued"}, "list: give --queue");
  ExpectUsage({"list", "--queue", "q", "--state", "nope"}, "allowed: queued, delayed");
  ExpectUsage({"list", "--queue", "q", "--state", "queued", "--limit", "1001"}, "--limit");
  ExpectUsage({"task"}, "give priority or promote");
  ExpectUsage({"task", "priority", "id1", "300"}, "allowed: 0 to 255");
  ExpectUsage({"task", "promote"}, "give exactly one ID");
  ExpectUsage({"batch", "run"}, "exactly one FILE");
  ExpectUsage({"batch", "run", "/nonexistent.json"}, "/nonexistent.json: cannot read");
  ExpectUsage({"batch", "status"}, "exactly one batch id");
  ExpectUsage({"dlq"}, "give list, retry or purge");
  ExpectUsage({"dlq", "retry"}, "give task ids or --all");
  ExpectUsage({"dlq", "purge", "--all", "id1"}, "give task ids or --all");
  ExpectUsage({"dlq", "list", "--limit", "0"}, "--limit");
  ExpectUsage({"--broker", "not-an-endpoint", "stats"}, "--broker: cannot connect");
  ExpectUsage({"queue"}, "give limit, pause or resume");
  ExpectUsage({"queue", "freeze", "q"}, "unknown operation 'freeze' (give limit, pause or resume)");
  ExpectUsage({"queue", "pause"}, "queue pause: give exactly one QUEUE");
  ExpectUsage({"queue", "resume", "a", "b"}, "queue resume: give exactly one QUEUE");
  ExpectUsage({"worker"}, "give quiet or unquiet");
  ExpectUsage({"worker", "stop", "w"}, "unknown operation 'stop' (give quiet or unquiet)");
  ExpectUsage({"worker", "quiet"}, "worker quiet: give exactly one ID");
}

TEST(CliTest, AnInvalidBatchFileExitsTwoNamingThePath) {
  std::string path = ::testing::TempDir() + "/cli_test_batch.json";
  std::ofstream(path) << R"({"tasks": [{"name": "a", "type": "echo", "depends_on": ["fetch"]}]})";
  auto r = Cli({"batch", "run", path});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("tasks[0].depends_on[0]: unknown task 'fetch'"), std::string::npos) << r.err;
}

// Issue 22: --on-failure is checked before any broker is asked, naming what is allowed.
TEST(CliTest, AnUnknownOnFailureIsAUsageErrorNamingTheThree) {
  std::string path = ::testing::TempDir() + "/cli_test_policy.json";
  std::ofstream(path) << R"({"tasks": [{"name": "a", "type": "echo"}]})";
  ExpectUsage({"batch", "run", path, "--on-failure", "explode"},
              "--on-failure: unknown value 'explode' (allowed: cancel_dependents, continue, "
              "fail_fast)");
  ExpectUsage({"batch", "submit", path, "--on-failure", "stop"}, "allowed: cancel_dependents");
}

TEST(CliTest, BadPayloadsAndNamesAreUsageErrorsThatSayWhatIsWrong) {
  ExpectUsage({"submit", "--type", "exec", "--payload", R"({"argv": ["ls"],})"},
              "--payload: starts with '{' but is not valid JSON");
  ExpectUsage({"submit", "--type", "exec", "--payload", " {argv}"}, "not valid JSON");
  ExpectUsage({"submit", "--type", "exec", "--payload", R"({"argv": ["echo", })"},
              "line 1, column 19: unexpected '}'");
  // In words, not the parser's codes.
  auto words = Cli({"submit", "--type", "exec", "--payload", "{argv}"});
  EXPECT_EQ(words.err.find("json.exception"), std::string::npos) << words.err;
  EXPECT_EQ(words.err.find("syntax error while parsing"), std::string::npos) << words.err;
  ExpectUsage({"submit", "--type", "echo", "--queue", "a b"},
              "invalid task: queue: 'a b' may contain only letters, digits");
  ExpectUsage({"submit", "--type", "echo", "--queue", ""}, "queue: must be 1 to 128 characters");
  ExpectUsage({"submit", "--type", "echo", "--timeout-ms", "-1"}, "--timeout-ms");
  ExpectUsage({"submit", "--type", "echo", "--priority", "high"}, "--priority");
  std::string path = ::testing::TempDir() + "/cli_test_payload.json";
  std::ofstream(path) << "{\"argv\": [\"ls\"";
  ExpectUsage({"submit", "--type", "exec", "--payload-file", path},
              "--payload-file: starts with '{' but is not valid JSON");
  // Over the protocol's ceiling: refused here, before any broker is asked.
  std::ofstream(path, std::ios::binary) << std::string((16u << 20) + 1, 'x');
  ExpectUsage({"submit", "--type", "echo", "--payload-file", path},
              "payload: 16777217 bytes is over the limit of 16777216");
  // A payload that is not JSON-shaped is sent as it is.
  auto r = Cli({"--broker", "not-an-endpoint", "submit", "--type", "echo", "--payload", "[1,"});
  EXPECT_NE(r.err.find("--broker: cannot connect"), std::string::npos) << r.err;
}

TEST(CliTest, ABatchFileThatIsNotJsonSaysWhere) {
  std::string path = ::testing::TempDir() + "/cli_test_bad.json";
  std::ofstream(path) << "{\"tasks\": [\n  {\"name\": \"a\" \"type\": \"echo\"}]}";
  auto r = Cli({"batch", "run", path});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("not valid JSON"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
}

TEST(CliTest, TheBrokerComesFromTheEnvironmentAndFlagsWin) {
  // An unparseable endpoint is refused before any network use, naming what was used.
  auto r = Cli({"stats"}, {{"TASKMILL_BROKER", "from-env"}});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("'from-env'"), std::string::npos) << r.err;
  r = Cli({"--broker", "from-flag", "stats"}, {{"TASKMILL_BROKER", "from-env"}});
  EXPECT_NE(r.err.find("'from-flag'"), std::string::npos) << r.err;
  r = Cli({"stats", "--broker", "after-command"});
  EXPECT_NE(r.err.find("'after-command'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace taskmill::client::cli

namespace taskmill::client::cli {
namespace {

TEST(CliErrorTest, StoreFullSaysNothingWasStoredAndToTryAgain) {
  std::ostringstream out, err;
  Context ctx{GlobalOptions{}, out, err};
  int code = ReportError(ctx, Error{ErrorCode::kStoreFull, "Redis is full"});
  EXPECT_EQ(code, kExitFailed);
  EXPECT_NE(err.str().find("taskmill: store_full: Redis is full\n"), std::string::npos);
  EXPECT_NE(err.str().find("nothing was stored; the broker's Redis is at its maxmemory"),
            std::string::npos)
      << err.str();
}

}  // namespace
}  // namespace taskmill::client::cli
