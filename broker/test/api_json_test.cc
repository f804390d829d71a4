// The dashboard API's task JSON (http/api_json.h) built from a record as the store writes it
// (layout 4: an encoded spec and result beside the mutable fields): every field the API
// serves, the blob bound, and that the owner and the fencing token never leave the broker.

#include "http/api_json.h"

#include <gtest/gtest.h>

#include "store/store_wire.h"
#include "store/task_record.h"

namespace taskmill::broker::api {
namespace {

using nlohmann::json;

// A record as get.lua / dead_list.lua return it.
TaskRecord FromStore(std::map<std::string, std::string> fields, const std::string& id,
                     std::vector<std::string> history = {}) {
  return TaskRecordFrom(wire::StoredTask{std::move(fields), std::move(history), id});
}

protocol::TaskSpec Spec() {
  protocol::TaskSpec s;
  s.queue = "emails";
  s.type = "send";
  s.name = "welcome";
  s.priority = 7;
  s.max_attempts = 3;
  s.timeout_ms = 5000;
  s.backoff = BackoffPolicy{100, 2000, 1.5, true};
  s.not_before_ms = 1700000000123;
  s.idempotency_key = "k-1";
  s.depends_on = {"01PARENTA", "01PARENTB"};
  s.labels = {{"team", "growth"}, {"env", "prod"}};
  return s;
}

std::map<std::string, std::string> FailedFields() {
  protocol::Done done;
  done.duration_ms = 42;
  done.exit_code = 3;
  done.output = "out";
  done.stdout_data = "said";
  done.stderr_data = "moaned";
  return {{std::string(record::kSpec),
           record::EncodeSpec(Spec(), "01BATCH", "alice", 1700000000000)},
          {std::string(record::kPayload), "hello"},
          {std::string(record::kResult), record::EncodeResult(done)},
          {"state", "failed"},
          {"att", "2"},
          {"tok", "99"},
          {"worker", "w-1"},
          {"started", "1700000000500"},
          {"ready_at", "1700000000400"},
          {"finished", "1700000000600"},
          {"err_code", "exit_status"},
          {"err_msg", "exit 3"},
          {"err_retry", "1"},
          {"c:usd", "0.25"},
          {"c:tokens", "512"}};
}

TEST(ApiJsonTest, AStoredTaskBecomesTheWholeTaskJson) {
  auto t = FromStore(FailedFields(), "01TASK", {"timeout", "too slow", "1"});
  json expected = json::parse(R"({
    "id": "01TASK", "queue": "emails", "type": "send", "state": "failed",
    "attempts": 2, "max_attempts": 3, "created_ms": 1700000000000,
    "finished_ms": 1700000000600, "name": "welcome", "batch": "01BATCH",
    "parents": ["01PARENTA", "01PARENTB"],
    "error": {"code": "exit_status", "message": "exit 3", "retryable": true},
    "spec": {"priority": 7, "max_attempts": 3, "timeout_ms": 5000,
             "not_before_ms": 1700000000123, "idempotency_key": "k-1",
             "labels": {"env": "prod", "team": "growth"},
             "backoff": {"base_ms": 100, "max_ms": 2000, "multiplier": 1.5, "jitter": true},
             "payload": "hello"},
    "worker": "w-1", "started_ms": 1700000000500, "ready_at_ms": 1700000000400,
    "duration_ms": 42, "cost": {"tokens": 512.0, "usd": 0.25}, "exit_code": 3,
    "output": "out", "stdout": "said", "stderr": "moaned",
    "history": [{"code": "timeout", "message": "too slow", "retryable": true}]
  })");
  EXPECT_EQ(TaskJson(t), expected) << TaskJson(t).dump(2);
  // Byte for byte as the dashboard gets it, too.
  EXPECT_EQ(Dump(TaskJson(t)), Dump(expected));
  std::string body = Dump(TaskJson(t));
  EXPECT_EQ(body.find("alice"), std::string::npos) << "the owner never leaves the broker";
  EXPECT_EQ(body.find("99"), std::string::npos) << "nor the fencing token";
}

TEST(ApiJsonTest, TheSummaryHasNoBlobsAndAQueuedTaskHasNoResult) {
  auto fields = FailedFields();
  auto summary = TaskSummaryJson(FromStore(fields, "01TASK"));
  EXPECT_EQ(summary, json::parse(R"({
    "id": "01TASK", "queue": "emails", "type": "send", "state": "failed",
    "attempts": 2, "max_attempts": 3, "created_ms": 1700000000000,
    "finished_ms": 1700000000600, "name": "welcome", "batch": "01BATCH",
    "parents": ["01PARENTA", "01PARENTB"],
    "error": {"code": "exit_status", "message": "exit 3"}})"))
      << summary.dump(2);

  // Queued, outside a batch, no result yet: no name, batch, exit code or error; empties.
  protocol::TaskSpec spec;
  spec.type = "plain";
  std::map<std::string, std::string> queued = {
      {std::string(record::kSpec), record::EncodeSpec(spec, "", "", 5)},
      {std::string(record::kPayload), ""},
      {"state", "queued"}};
  auto j = TaskJson(FromStore(queued, "01Q"));
  EXPECT_FALSE(j.contains("name"));
  EXPECT_FALSE(j.contains("batch"));
  EXPECT_FALSE(j.contains("exit_code"));
  EXPECT_FALSE(j.contains("error"));
  EXPECT_EQ(j["parents"], json::array());
  EXPECT_EQ(j["spec"]["labels"], json::object());
  EXPECT_EQ(j["spec"]["idempotency_key"], "");
  EXPECT_EQ(j["output"], "");
  EXPECT_EQ(j["duration_ms"], 0);
  EXPECT_EQ(j["queue"], "default");
  EXPECT_EQ(j["created_ms"], 5);
}

TEST(ApiJsonTest, BlobsAreCutWithTheirFullSize) {
  auto fields = FailedFields();
  fields[std::string(record::kPayload)] = std::string(kMaxBlobBytes + 10, 'p');
  protocol::Done done;
  done.output = std::string(kMaxBlobBytes, 'o');  // exactly at the bound: whole
  done.stderr_data = std::string(kMaxBlobBytes + 1, 'e');
  fields[std::string(record::kResult)] = record::EncodeResult(done);
  auto j = TaskJson(FromStore(fields, "01BIG"));
  EXPECT_EQ(j["spec"]["payload"].get<std::string>().size(), kMaxBlobBytes);
  EXPECT_EQ(j["spec"]["payload_bytes"], kMaxBlobBytes + 10);
  EXPECT_EQ(j["output"].get<std::string>().size(), kMaxBlobBytes);
  EXPECT_FALSE(j.contains("output_bytes"));
  EXPECT_EQ(j["stderr_bytes"], kMaxBlobBytes + 1);
  EXPECT_FALSE(j.contains("exit_code"));  // the result has none
}

TEST(ApiJsonTest, ACancelledTaskSaysWhyAndARunningOneThatItWasAsked) {
  auto fields = FailedFields();
  fields.erase("err_code");
  fields["state"] = "running";
  fields["cancel"] = "by operator";
  fields["reason"] = "no longer needed";
  auto j = TaskJson(FromStore(fields, "01C"));
  EXPECT_EQ(j["cancel_requested"], "by operator");
  EXPECT_EQ(j["cancel_reason"], "no longer needed");
  EXPECT_FALSE(j.contains("error"));
}

// Issue 19: the current attempt's stored progress is shown; an earlier attempt's is not.
TEST(ApiJsonTest, ARunningTaskShowsTheProgressOfItsCurrentAttemptOnly) {
  auto fields = FailedFields();
  fields["state"] = "running";
  fields["prog"] = "0.4";
  fields["prog_msg"] = "reading";
  fields["prog_att"] = "2";
  auto j = TaskJson(FromStore(fields, "01P"));
  EXPECT_EQ(j["progress"], 0.4);
  EXPECT_EQ(j["progress_message"], "reading");
  fields["prog_att"] = "1";  // reported by attempt 1; attempt 2 has not reported yet
  auto retried = TaskSummaryJson(FromStore(fields, "01P"));
  EXPECT_FALSE(retried.contains("progress"));
}

}  // namespace
}  // namespace taskmill::broker::api
