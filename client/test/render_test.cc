// Human and JSON output: tables, durations, costs, the progress bar and line, bytes.

#include "cli/render.h"

#include <gtest/gtest.h>

#include <sstream>

#include "cli/batch_progress.h"
#include "cli/json_convert.h"

namespace taskmill::client::cli {
namespace {

TEST(RenderTest, TablesAlignColumns) {
  Table t({"NAME", "N", "NOTE"}, {false, true, false});
  t.AddRow({"a", "1", "x"});
  t.AddRow({"longer", "100", ""});
  std::ostringstream out;
  t.Print(out);
  EXPECT_EQ(out.str(),
            "NAME      N  NOTE\n"
            "a         1  x\n"
            "longer  100\n");
}

TEST(RenderTest, DurationsAndCosts) {
  EXPECT_EQ(FormatDurationMs(850), "850ms");
  EXPECT_EQ(FormatDurationMs(12'400), "12.4s");
  EXPECT_EQ(FormatDurationMs(185'000), "3m05s");
  EXPECT_EQ(FormatDurationMs(7'380'000), "2h03m");
  EXPECT_EQ(FormatCost({}), "-");
  EXPECT_EQ(FormatCost({{"usd", 0.0123}, {"tokens_in", 512}}), "tokens_in=512 usd=0.0123");
  EXPECT_EQ(FormatTime(0), "-");
  EXPECT_EQ(FormatTime(1'700'000'000'123), "2023-11-14T22:13:20.123Z");
}

TEST(RenderTest, ProgressLineShowsDoneFailedCostAndTime) {
  EXPECT_EQ(ProgressLine(7, 12, 1, {{"cpu_ms", 40}, {"usd", 0.0123}}, 12'400, 10),
            "[#####.....] 7/12  failed 1  usd 0.0123  12.4s");
  EXPECT_EQ(ProgressLine(0, 0, 0, {}, 0, 4), "[....] 0/0  failed 0  0.0s");
}

TEST(RenderTest, TaskCardShowsTheResult) {
  protocol::TaskInfo t;
  t.id = "t1";
  t.state = protocol::TaskState::kFailed;
  t.attempts = 2;
  t.max_attempts = 2;
  t.error = protocol::TaskError{"exit_status", "exit 3", false};
  t.output = "line1\nline2\n";
  t.stdout_data = std::string("\xff\xfe", 2);
  std::ostringstream out;
  PrintTaskCard(out, t);
  std::string s = out.str();
  EXPECT_NE(s.find("state        failed\n"), std::string::npos) << s;
  EXPECT_NE(s.find("attempts     2/2\n"), std::string::npos) << s;
  EXPECT_NE(s.find("error        exit_status: exit 3\n"), std::string::npos) << s;
  EXPECT_NE(s.find("output       line1\n             line2\n"), std::string::npos) << s;
  EXPECT_NE(s.find("stdout       <2 bytes, binary>\n"), std::string::npos) << s;
}

TEST(RenderTest, ARunningTaskShowsHowLongItHasRun) {
  protocol::TaskInfo t;
  t.id = "t1";
  t.state = protocol::TaskState::kRunning;
  t.started_ms = 1'000'000;
  std::ostringstream out;
  PrintTaskCard(out, t, /*now_ms=*/1'000'000 + 4'200);
  std::string s = out.str();
  EXPECT_NE(s.find("running for  4.2s\n"), std::string::npos) << s;
  EXPECT_EQ(s.find("duration"), std::string::npos) << s;
  EXPECT_EQ(s.find("progress"), std::string::npos) << "none reported: no line";
}

// Issue 19: the stored progress on the card and in --json.
TEST(RenderTest, ARunningTasksProgressIsShown) {
  protocol::TaskInfo t;
  t.id = "t1";
  t.state = protocol::TaskState::kRunning;
  t.progress = 0.4;
  t.progress_message = "reading";
  std::ostringstream out;
  PrintTaskCard(out, t, 0);
  EXPECT_NE(out.str().find("progress     40%  reading\n"), std::string::npos) << out.str();
  auto j = ToJson(t);
  EXPECT_EQ(j["progress"], 0.4);
  EXPECT_EQ(j["progress_message"], "reading");
}

TEST(JsonTest, Utf8AndBase64) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));      // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));      // cut short
  EXPECT_EQ(Base64(""), "");
  EXPECT_EQ(Base64("f"), "Zg==");
  EXPECT_EQ(Base64("fo"), "Zm8=");
  EXPECT_EQ(Base64("foo"), "Zm9v");
  EXPECT_EQ(Base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64(std::string("\x00\xff", 2)), "AP8=");
}

TEST(JsonTest, TaskInfoHasEveryFieldAndBinaryAsBase64) {
  protocol::TaskInfo t;
  t.id = "t1";
  t.state = protocol::TaskState::kSucceeded;
  t.output = "ok";
  t.stdout_data = std::string("\x00\xff", 2);
  t.exit_code = 0;
  t.cost = {{"usd", 0.5}};
  auto j = ToJson(t);
  EXPECT_EQ(j["id"], "t1");
  EXPECT_EQ(j["state"], "succeeded");
  EXPECT_EQ(j["output"], "ok");
  EXPECT_FALSE(j.contains("stdout"));
  EXPECT_EQ(j["stdout_b64"], "AP8=");
  EXPECT_EQ(j["stderr"], "");
  EXPECT_EQ(j["exit_code"], 0);
  EXPECT_TRUE(j["error"].is_null());
  EXPECT_EQ(j["cost"]["usd"], 0.5);
  EXPECT_TRUE(j["history"].is_array());
  for (const char* key :
       {"queue", "type", "batch_id", "name", "priority", "attempts", "max_attempts", "duration_ms",
        "worker", "created_ms", "started_ms", "finished_ms", "progress", "progress_message"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
}

TEST(JsonTest, StatsAndBatchStatus) {
  StatsReply s;
  s.queues.push_back(protocol::QueueStats{});
  s.queues[0].queue = "default";
  s.queues[0].ready = 3;
  s.workers.push_back(protocol::WorkerInfo{});
  s.workers[0].id = "w1";
  auto j = ToJson(s);
  EXPECT_EQ(j["queues"][0]["queue"], "default");
  EXPECT_EQ(j["queues"][0]["ready"], 3);
  EXPECT_EQ(j["workers"][0]["id"], "w1");
  protocol::BatchStatus b;
  b.id = "b1";
  b.state = "partial";
  b.counts = {{"failed", 1}};
  b.tasks = {{"a", "t1"}};
  auto jb = ToJson(b);
  EXPECT_EQ(jb["counts"]["failed"], 1);
  EXPECT_EQ(jb["tasks"]["a"], "t1");
  EXPECT_EQ(jb["budget_exceeded"], false);
  // Invalid UTF-8 in a str field is replaced on output, never thrown on.
  protocol::TaskInfo t;
  t.worker = "\xff";
  EXPECT_NE(Dump(ToJson(t)).find("\"worker\""), std::string::npos);
}

TEST(RenderTest, StatsBreakReadyTasksDownByType) {
  StatsReply s;
  protocol::QueueStats q;
  q.queue = "images";
  q.ready = 23;
  q.ready_by_type = {{"thumbnail", 2}, {"resize", 20}};
  q.more_types = 1;
  s.queues = {q};
  std::ostringstream out;
  PrintStats(out, s);
  EXPECT_NE(out.str().find("QUEUE   TYPE            READY\n"
                           "images  resize             20\n"
                           "images  thumbnail           2\n"
                           "images  (1 more types)\n"),
            std::string::npos)
      << out.str();
  auto j = ToJson(s);
  EXPECT_EQ(j["queues"][0]["ready_by_type"]["resize"], 20);
  EXPECT_EQ(j["queues"][0]["more_types"], 1);
  // No ready tasks: no by-type table.
  s.queues[0].ready_by_type.clear();
  s.queues[0].more_types = 0;
  std::ostringstream empty;
  PrintStats(empty, s);
  EXPECT_EQ(empty.str().find("TYPE "), std::string::npos) << empty.str();
}

TEST(RenderTest, StatsMarkPausedQueuesAndQuietWorkers) {
  StatsReply s;
  protocol::QueueStats q;
  q.queue = "images";
  q.paused = true;
  protocol::QueueStats open;
  open.queue = "mail";
  s.queues = {q, open};
  protocol::WorkerInfo w;
  w.id = "w-1";
  w.broker = "A";
  w.quiet = true;
  s.workers = {w};
  std::ostringstream out;
  PrintStats(out, s);
  EXPECT_NE(out.str().find("\nimages (paused) "), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("\nmail "), std::string::npos) << out.str();
  EXPECT_EQ(out.str().find("mail (paused)"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("\nw-1 (quiet) "), std::string::npos) << out.str();
  auto j = ToJson(s);
  EXPECT_EQ(j["queues"][0]["paused"], true);
  EXPECT_EQ(j["queues"][1]["paused"], false);
  EXPECT_EQ(j["workers"][0]["quiet"], true);
}

protocol::Event Ev(const std::string& type, const std::string& task, const std::string& state) {
  protocol::Event e;
  e.batch_id = "b";
  e.type = type;
  e.task_id = task;
  e.task_name = task;
  e.state = state;
  return e;
}

TEST(BatchProgressTest, CountsFailuresForGoodNotRetries) {
  BatchProgress p;
  auto start = Ev("batch_started", "", "running");
  start.total = 3;
  p.Apply(start);
  p.Apply(Ev("task_failed", "a", "delayed"));
  EXPECT_EQ(p.failed(), 0u);
  p.Apply(Ev("task_failed", "b", "failed"));
  EXPECT_EQ(p.failed(), 1u);
  auto progress = Ev("batch_progress", "", "running");
  progress.done = 2;
  progress.total = 3;
  progress.cost = {{"usd", 0.25}};
  p.Apply(progress);
  EXPECT_EQ(p.done(), 2u);
  auto completed = Ev("task_completed", "a", "succeeded");
  completed.cost = {{"usd", 0.125}};
  EXPECT_EQ(EventLine(completed, p, 1200), "+1.2s task_completed a succeeded cost usd=0.125");
  EXPECT_EQ(EventLine(progress, p, 1300), "+1.3s batch_progress 2/3 failed 1 cost usd=0.25");
  auto retry = Ev("task_failed", "a", "delayed");
  retry.message = "attempt 1 failed; retrying";
  retry.error = protocol::TaskError{"boom", "it broke", true};
  EXPECT_EQ(EventLine(retry, p, 0),
            "+0.0s task_failed a delayed (attempt 1 failed; retrying) error boom: it broke");
  EXPECT_FALSE(p.finished());
  protocol::BatchStatus s;
  s.state = "partial";
  s.total = 3;
  s.counts = {{"succeeded", 2}, {"failed", 1}};
  p.Apply(s);
  EXPECT_EQ(p.done(), 3u);
  EXPECT_TRUE(p.finished());
}

TEST(BatchProgressTest, AnExpiredTaskCountsAsAFailure) {
  // Issue 22: a member never started by its expires_in_ms ends task_failed, state expired.
  BatchProgress p;
  auto expired = Ev("task_failed", "late", "expired");
  expired.error = protocol::TaskError{"expired", "not started before its deadline (expires_in_ms)",
                                      false};
  p.Apply(expired);
  EXPECT_EQ(p.failed(), 1u);
  EXPECT_EQ(EventLine(expired, p, 500),
            "+0.5s task_failed late expired error expired: not started before its deadline "
            "(expires_in_ms)");
}

}  // namespace
}  // namespace taskmill::client::cli
