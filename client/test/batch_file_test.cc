// Batch files: what a valid file becomes, and errors that name the JSON path.

#include "taskmill/client/batch_file.h"
#include "test_paths.h"  // TASKMILL_SOURCE_DIR, TASKMILL_BUILD_DIR

#include <gtest/gtest.h>

#include <fstream>

namespace taskmill::client {
namespace {

constexpr const char* kPipeline = R"({
  "id": "nightly-1",
  "budget": {"usd": 2.5},
  "labels": {"team": "data"},
  "tasks": [
    {"name": "fetch", "type": "exec", "payload": {"argv": ["curl", "-s", "x"]},
     "priority": 7, "max_attempts": 5, "timeout_ms": 30000,
     "backoff": {"base_ms": 100, "max_ms": 1000, "multiplier": 3, "jitter": true}},
    {"name": "parse", "type": "echo", "payload": "raw bytes", "depends_on": ["fetch"],
     "queue": "cpu", "labels": {"k": "v"}, "idempotency_key": "parse-1"},
    {"name": "report", "type": "sleep", "payload": [1, 2], "depends_on": ["fetch", "parse"]}
  ]
})";

std::string ErrorOf(const std::string& text) {
  auto r = ParseBatchFile(text);
  return r ? std::string("(parsed)") : r.error().message;
}

TEST(BatchFileTest, AValidFileBecomesABatchSpec) {
  auto r = ParseBatchFile(kPipeline);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->id, "nightly-1");
  EXPECT_DOUBLE_EQ(r->budget.at("usd"), 2.5);
  EXPECT_EQ(r->labels.at("team"), "data");
  ASSERT_EQ(r->tasks.size(), 3u);
  const auto& fetch = r->tasks[0];
  EXPECT_EQ(fetch.name, "fetch");
  EXPECT_EQ(fetch.type, "exec");
  EXPECT_EQ(fetch.queue, "default");
  EXPECT_EQ(fetch.payload, R"({"argv":["curl","-s","x"]})");  // compact JSON text
  EXPECT_EQ(fetch.priority, 7);
  EXPECT_EQ(fetch.max_attempts, 5u);
  EXPECT_EQ(fetch.timeout_ms, 30000u);
  EXPECT_EQ(fetch.backoff, (BackoffPolicy{100, 1000, 3.0, true}));
  const auto& parse = r->tasks[1];
  EXPECT_EQ(parse.payload, "raw bytes");  // a string is sent as its bytes
  EXPECT_EQ(parse.queue, "cpu");
  EXPECT_EQ(parse.depends_on, std::vector<std::string>{"fetch"});
  EXPECT_EQ(parse.labels.at("k"), "v");
  EXPECT_EQ(parse.idempotency_key, "parse-1");
  EXPECT_EQ(r->tasks[2].payload, "[1,2]");
}

TEST(BatchFileTest, ErrorsNameTheJsonPath) {
  EXPECT_EQ(ErrorOf(R"({"tasks": [{"name": "a", "type": "echo"}, {"name": "b", "type": "echo"},
      {"name": "c", "type": "echo", "depends_on": ["fetch"]}]})"),
            "tasks[2].depends_on[0]: unknown task 'fetch'");
  EXPECT_EQ(ErrorOf(R"({"tasks": [{"name": "a", "type": "echo", "prority": 3}]})"),
            "tasks[0].prority: unknown key");
  EXPECT_EQ(ErrorOf(R"({"tasks": [{"name": "a", "type": "echo", "priority": 300}]})"),
            "tasks[0].priority: 300 is out of range (allowed: 0..255)");
  EXPECT_EQ(ErrorOf(R"({"tasks": [{"name": "a", "type": "echo", "priority": -1}]})"),
            "tasks[0].priority: must not be negative");
  EXPECT_EQ(ErrorOf(R"({"tasks": [{"name": "a", "type": "echo", "payload": 5}]})"),
            "tasks[0].payload: expected an object, array or string, got number");
  EXPECT_EQ(ErrorOf(R"({"tasks": [{"type": "echo"}]})"), "tasks[0]: missing 'name'");
  EXPECT_EQ(ErrorOf(R"({"tasks": [{"name": "a", "type": "echo"}, {"name": "a", "type": "x"}]})"),
            "tasks[1].name: 'a' is also the name of tasks[0]");
  EXPECT_EQ(ErrorOf(R"({"tasks": [{"name": "a", "type": "echo", "queue": "has space"}]})"),
            "tasks[0].queue: 'has space' may contain only letters, digits, '_', '.' and '-'");
  EXPECT_EQ(ErrorOf(R"({"tasks": [{"name": "a", "type": "echo",
      "backoff": {"base_ms": 10, "multiplier": "fast"}}]})"),
            "tasks[0].backoff.multiplier: expected a number, got string");
  EXPECT_EQ(ErrorOf(R"({"budget": {"usd": "lots"}, "tasks": []})"),
            "budget.usd: expected a number, got string");
  EXPECT_EQ(ErrorOf(R"({"tasks": []})"), "tasks: a batch needs at least one task");
  EXPECT_EQ(ErrorOf(R"({"name": "x"})"), "name: unknown key");
  EXPECT_EQ(ErrorOf(R"({})"), "body: missing 'tasks'");
  EXPECT_EQ(ErrorOf(R"([1])"), "body: expected an object, got array");
  EXPECT_EQ(ErrorOf(R"({"tasks": [{"name": "a", "type": "echo", "depends_on": ["a"]}]})"),
            "tasks[0].depends_on[0]: a task cannot depend on itself");
  // Batch labels are checked as the broker checks them, before they reach every task.
  EXPECT_EQ(ErrorOf(R"({"labels": {"": "x"}, "tasks": [{"name": "a", "type": "echo"}]})"),
            "batch.labels: a key of 0 bytes is out of range (allowed: 1..256 bytes)");
}

// Issue 22: on_failure, one of three values, cancel_dependents when absent.
TEST(BatchFileTest, OnFailureIsReadAndAnUnknownValueNamesTheThree) {
  auto r =
      ParseBatchFile(R"({"on_failure": "fail_fast", "tasks": [{"name": "a", "type": "echo"}]})");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->on_failure, "fail_fast");
  EXPECT_EQ(ParseBatchFile(R"({"tasks": [{"name": "a", "type": "echo"}]})")->on_failure,
            "cancel_dependents");
  EXPECT_EQ(ErrorOf(R"({"on_failure": "explode", "tasks": [{"name": "a", "type": "echo"}]})"),
            "on_failure: unknown value 'explode' (allowed: cancel_dependents, continue, "
            "fail_fast)");
  EXPECT_EQ(ErrorOf(R"({"on_failure": 3, "tasks": [{"name": "a", "type": "echo"}]})"),
            "on_failure: expected a string, got number");
}

// Issue 22: a finally task, named "finally" when the file leaves the name out.
TEST(BatchFileTest, AFinallyTaskIsReadAndChecked) {
  auto r = ParseBatchFile(R"({"finally": {"type": "report", "queue": "ops"},
      "tasks": [{"name": "a", "type": "echo"}]})");
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_TRUE(r->finally.has_value());
  EXPECT_EQ(r->finally->name, "finally");
  EXPECT_EQ(r->finally->type, "report");
  EXPECT_EQ(r->finally->queue, "ops");
  EXPECT_FALSE(ParseBatchFile(R"({"tasks": [{"name": "a", "type": "echo"}]})")->finally);
  EXPECT_EQ(ErrorOf(R"({"finally": {"type": "r", "payload": "x"},
      "tasks": [{"name": "a", "type": "echo"}]})"),
            "finally.payload: must be empty (the finally task's input is the batch summary)");
  EXPECT_EQ(ErrorOf(R"({"finally": {"type": "r", "depends_on": ["a"]},
      "tasks": [{"name": "a", "type": "echo"}]})"),
            "finally.depends_on: must be empty (the finally task runs after every other task)");
  EXPECT_EQ(ErrorOf(R"({"finally": "report", "tasks": [{"name": "a", "type": "echo"}]})"),
            "finally: expected a task object, got string");
}

// Issue 22: per-task delay and expiry as durations, checked with the shared parser.
TEST(BatchFileTest, DelayAndExpiryAreDurations) {
  auto r = ParseBatchFile(R"({"tasks": [{"name": "a", "type": "echo", "delay": "10s",
      "expires_in": "5m"}]})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->tasks[0].delay_ms, 10000u);
  EXPECT_EQ(r->tasks[0].expires_in_ms, 300000u);
  EXPECT_NE(ErrorOf(R"({"tasks": [{"name": "a", "type": "echo", "delay": "10"}]})")
                .find("tasks[0].delay: '10' has no unit"),
            std::string::npos)
      << ErrorOf(R"({"tasks": [{"name": "a", "type": "echo", "delay": "10"}]})");
  EXPECT_EQ(ErrorOf(R"({"tasks": [{"name": "a", "type": "echo", "expires_in": 30}]})"),
            "tasks[0].expires_in: expected a string, got number");
  EXPECT_EQ(ErrorOf(R"({"tasks": [{"name": "a", "type": "echo", "delay": "1s",
      "not_before_ms": 5}]})"),
            "tasks[0].delay_ms and not_before_ms: set one or the other (a relative delay or "
            "an absolute time), not both");
}

TEST(BatchFileTest, ACycleIsRefusedWithItsPath) {
  auto r = ParseBatchFile(R"({"tasks": [
      {"name": "a", "type": "echo", "depends_on": ["c"]},
      {"name": "b", "type": "echo", "depends_on": ["a"]},
      {"name": "c", "type": "echo", "depends_on": ["b"]},
      {"name": "d", "type": "echo"}]})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kCycle);
  EXPECT_EQ(r.error().message, "tasks: dependency cycle a -> c -> b -> a");
}

TEST(BatchFileTest, AnAppendFileMayNameTheBatchsTasksButNotItsSettings) {
  // `taskmill batch append ID FILE`: a parent outside the file is one of the batch's.
  auto b = ParseBatchFile(
      R"({"tasks": [{"name": "report", "type": "t", "depends_on": ["fetch"]}]})", "B1");
  ASSERT_TRUE(b.has_value()) << b.error().ToString();
  EXPECT_EQ(b->append_to, "B1");
  EXPECT_EQ(b->tasks[0].depends_on, std::vector<std::string>{"fetch"});
  // Without append_to the same file names an unknown task.
  EXPECT_FALSE(ParseBatchFile(
      R"({"tasks": [{"name": "report", "type": "t", "depends_on": ["fetch"]}]})").has_value());
  auto fin = ParseBatchFile(R"({"finally": {"type": "t"}, "tasks": [{"name": "a", "type": "t"}]})",
                            "B1");
  ASSERT_FALSE(fin.has_value());
  EXPECT_EQ(fin.error().message,
            "batch.finally: must be unset when append_to is set (the batch's own applies)");
}

TEST(BatchFileTest, BrokenJsonSaysWhere) {
  auto r = ParseBatchFile("{\"tasks\": [\n  {\"name\": }]}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("line 2"), std::string::npos) << r.error().message;
}

TEST(BatchFileTest, LoadNamesTheFile) {
  auto missing = LoadBatchFile("/nonexistent/batch.json");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  std::string path = ::testing::TempDir() + "/batch_file_test.json";
  std::ofstream(path) << R"({"tasks": [{"name": "a"}]})";
  auto bad = LoadBatchFile(path);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, path + ": tasks[0]: missing 'type'");
}

TEST(BatchFileTest, TheExampleFilesAreValid) {
  for (const char* name : {"pipeline.json", "flaky.json"}) {
    auto r = LoadBatchFile(std::string(TASKMILL_SOURCE_DIR) + "/client/examples/" + name);
    EXPECT_TRUE(r) << name << ": " << r.error().ToString();
  }
  // The README's `batch append` example, for the demo batch.
  auto append = LoadBatchFile(std::string(TASKMILL_SOURCE_DIR) + "/examples/demo-append.json",
                              "some-batch");
  EXPECT_TRUE(append) << append.error().ToString();
}

}  // namespace
}  // namespace taskmill::client
