#include "taskmill/shared/protocol/validate.h"

#include <gtest/gtest.h>

#include <functional>

namespace taskmill::protocol {
namespace {

TaskSpec Valid() {
  TaskSpec s;
  s.type = "echo";
  return s;
}

TEST(ValidateTest, NamesAreRestrictedToKeySafeCharacters) {
  EXPECT_TRUE(ValidateName("images.v2-hi_5", "queue"));
  auto r = ValidateName("a:b", "queue");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "queue: 'a:b' may contain only letters, digits, '_', '.' and '-'");
  EXPECT_FALSE(ValidateName("", "queue"));
  EXPECT_FALSE(ValidateName(std::string(129, 'a'), "queue"));
  EXPECT_TRUE(ValidateName(std::string(128, 'a'), "queue"));
  // Names become file names (exec's parents dir) and key parts: no "." or "..".
  EXPECT_FALSE(ValidateName("..", "name"));
  EXPECT_FALSE(ValidateName(".", "name"));
  EXPECT_TRUE(ValidateName("..a", "name"));
}

TEST(ValidateTest, SpecChecks) {
  EXPECT_TRUE(ValidateTaskSpec(Valid(), "tasks[0]"));
  auto s = Valid();
  s.type = "";
  auto r = ValidateTaskSpec(s, "tasks[0]");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "tasks[0].type: must be 1 to 128 characters, got 0");
  s = Valid();
  s.max_attempts = 0;
  r = ValidateTaskSpec(s, "tasks[2]");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "tasks[2].max_attempts: 0 is out of range (allowed: 1..1000)");
  s = Valid();
  s.backoff.base_ms = 10;
  s.backoff.max_ms = 5;
  EXPECT_FALSE(ValidateTaskSpec(s, ""));
  s = Valid();
  s.backoff.multiplier = 0.5;
  EXPECT_FALSE(ValidateTaskSpec(s, ""));
  s = Valid();
  s.payload.assign(10, 'x');
  SpecLimits small;
  small.max_payload_bytes = 4;
  r = ValidateTaskSpec(s, "", small);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "payload: 10 bytes is over the limit of 4");
  s = Valid();
  s.queue = "bad queue";
  EXPECT_FALSE(ValidateTaskSpec(s, ""));
}

TEST(ValidateTest, LabelKeysSizesAndBytesAreChecked) {
  auto s = Valid();
  s.labels[""] = "x";
  auto r = ValidateTaskSpec(s, "tasks[0]");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "tasks[0].labels: a key of 0 bytes is out of range (allowed: 1..256 bytes)");
  s.labels = {{std::string(257, 'k'), "x"}};
  EXPECT_FALSE(ValidateTaskSpec(s, ""));
  s.labels = {{std::string(256, 'k'), "x"}};
  EXPECT_TRUE(ValidateTaskSpec(s, ""));
  // Labels and payload share the payload cap.
  SpecLimits small;
  small.max_payload_bytes = 10;
  s = Valid();
  s.payload = "12345";
  s.labels = {{"ab", "cde"}};  // 5 + 5 = 10: at the cap
  EXPECT_TRUE(ValidateTaskSpec(s, "", small));
  s.labels = {{"ab", "cdef"}};
  r = ValidateTaskSpec(s, "", small);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "labels: 6 bytes with a payload of 5 bytes is over the limit of 10 (payload and "
            "labels count together)");
}

TEST(ValidateTest, NotBeforeIsBounded) {
  auto s = Valid();
  s.not_before_ms = INT64_MAX;  // wrapped the delayed score negative: ran at once
  auto r = ValidateTaskSpec(s, "tasks[0]");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "tasks[0].not_before_ms: 9223372036854775807 is out of range (allowed: "
            "0..253402300799999, 9999-12-31; 0: now)");
  s.not_before_ms = kMaxNotBeforeMs;
  EXPECT_TRUE(ValidateTaskSpec(s, "tasks[0]"));
  s.not_before_ms = -1;
  EXPECT_FALSE(ValidateTaskSpec(s, "tasks[0]"));
}

// Issue 22: delay_ms, expires_in_ms and idempotency_ttl_ms, with messages naming the bounds.
TEST(ValidateTest, TaskOptionsAreBoundedWithMessagesNamingWhatIsAllowed) {
  auto s = Valid();
  s.delay_ms = kMaxDelayMs;
  s.expires_in_ms = kMaxExpiresInMs;
  s.idempotency_key = "k";
  s.idempotency_ttl_ms = kMaxIdempotencyTtlMs;
  EXPECT_TRUE(ValidateTaskSpec(s, "tasks[0]"));
  struct Case {
    std::function<void(TaskSpec&)> change;
    const char* message;
  };
  std::vector<Case> cases = {
      {[](TaskSpec& t) {
         t.delay_ms = 1;
         t.not_before_ms = 5;
       },
       "tasks[0].delay_ms and not_before_ms: set one or the other (a relative delay or an "
       "absolute time), not both"},
      {[](TaskSpec& t) { t.delay_ms = kMaxDelayMs + 1; },
       "tasks[0].delay_ms: 31536000001 is out of range (allowed: 0..31536000000, 365 days; 0: "
       "none)"},
      {[](TaskSpec& t) { t.expires_in_ms = kMaxExpiresInMs + 1; },
       "tasks[0].expires_in_ms: 31536000001 is out of range (allowed: 0..31536000000, 365 "
       "days; 0: never)"},
      {[](TaskSpec& t) {
         t.idempotency_key = "k";
         t.idempotency_ttl_ms = kMaxIdempotencyTtlMs + 1;
       },
       "tasks[0].idempotency_ttl_ms: 2592000001 is out of range (allowed: 0..2592000000, 30 "
       "days; 0: the broker's --idempotency-ttl)"},
      {[](TaskSpec& t) { t.idempotency_ttl_ms = 1000; },
       "tasks[0].idempotency_ttl_ms: needs an idempotency_key (it is that key's TTL)"},
  };
  for (const auto& c : cases) {
    auto t = Valid();
    c.change(t);
    auto r = ValidateTaskSpec(t, "tasks[0]");
    ASSERT_FALSE(r) << c.message;
    EXPECT_EQ(r.error().message, c.message);
  }
}

TEST(ValidateTest, ARepeatedParentIsRefused) {
  auto s = Valid();
  s.depends_on = {"a", "b", "a"};
  auto r = ValidateTaskSpec(s, "tasks[1]");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "tasks[1].depends_on: 'a' is listed twice");
}

TEST(ValidateTest, CostsMustBeFiniteNonNegativeAndBounded) {
  EXPECT_TRUE(ValidateCosts({{"usd", 0.5}, {"cpu_ms", 0}}, "cost"));
  auto r = ValidateCosts({{"usd", -1}}, "cost");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "cost.usd: -1.000000 is not a cost (allowed: 0 to 1e15)");
  EXPECT_FALSE(ValidateCosts({{"usd", 1.7e308}}, "cost"));
  EXPECT_FALSE(ValidateCosts({{"bad name", 1}}, "cost"));
}

TEST(ValidateTest, RequestIdsAreOneTo64PrintableAsciiBytes) {
  EXPECT_TRUE(ValidateRequestId("0123456789abcdef0123456789abcdef"));
  EXPECT_TRUE(ValidateRequestId(std::string(64, '~')));
  EXPECT_TRUE(ValidateRequestId("with space:and@punctuation!"));
  auto empty = ValidateRequestId("");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(empty.error().message, "request_id: must be 1 to 64 bytes, got 0");
  auto longer = ValidateRequestId(std::string(65, 'a'));
  ASSERT_FALSE(longer);
  EXPECT_EQ(longer.error().message, "request_id: must be 1 to 64 bytes, got 65");
  auto control = ValidateRequestId("ab\ncd");
  ASSERT_FALSE(control);
  EXPECT_EQ(control.error().message,
            "request_id: byte 2 (0x0a) is not printable ASCII (allowed: 0x20 to 0x7e)");
  EXPECT_FALSE(ValidateRequestId("caf\xc3\xa9"));
  EXPECT_FALSE(ValidateRequestId(std::string("a\0b", 3)));
  EXPECT_FALSE(ValidateRequestId("del\x7f"));
}

}  // namespace
}  // namespace taskmill::protocol

namespace taskmill::protocol {
namespace {

ScheduleInfo GoodSchedule() {
  ScheduleInfo s;
  s.name = "nightly";
  s.cron = "0 3 * * *";
  s.tz = "Europe/Paris";
  s.task.type = "report";
  return s;
}

TEST(ValidateSchedule, AcceptsCronOrEvery) {
  EXPECT_TRUE(ValidateSchedule(GoodSchedule(), "schedule").has_value());
  ScheduleInfo every = GoodSchedule();
  every.cron.clear();
  every.tz.clear();
  every.every_ms = 1000;
  every.catch_up = "once";
  EXPECT_TRUE(ValidateSchedule(every, "schedule").has_value());
}

TEST(ValidateSchedule, RefusesWithAMessageNamingWhatIsAllowed) {
  struct Case {
    std::function<void(ScheduleInfo&)> change;
    const char* words;
  };
  std::vector<Case> cases = {
      {[](ScheduleInfo& s) { s.name = "a b"; }, "schedule.name"},
      {[](ScheduleInfo& s) { s.every_ms = 5000; }, "exactly one of cron"},
      {[](ScheduleInfo& s) { s.cron.clear(); s.tz.clear(); }, "exactly one of cron"},
      {[](ScheduleInfo& s) { s.cron = "61 * * * *"; }, "minute field"},
      {[](ScheduleInfo& s) { s.cron.clear(); s.tz.clear(); s.every_ms = 500; },
       "allowed: 1s to 365 days"},
      {[](ScheduleInfo& s) { s.cron.clear(); s.every_ms = 5000; }, "cron schedules only"},
      {[](ScheduleInfo& s) { s.tz = "../../etc/passwd"; }, "Europe/Paris"},
      {[](ScheduleInfo& s) { s.catch_up = "all"; }, "allowed: skip, once"},
      {[](ScheduleInfo& s) { s.task.type = ""; }, "schedule.task.type"},
      {[](ScheduleInfo& s) { s.task.id = "x"; }, "task.id"},
      {[](ScheduleInfo& s) { s.task.depends_on = {"a"}; }, "batch"},
      {[](ScheduleInfo& s) { s.task.not_before_ms = 5; }, "not_before_ms"},
      {[](ScheduleInfo& s) { s.task.delay_ms = 5; }, "task.delay_ms"},
      {[](ScheduleInfo& s) { s.task.idempotency_key = "k"; }, "idempotency_key"},
  };
  for (const auto& c : cases) {
    ScheduleInfo s = GoodSchedule();
    c.change(s);
    auto r = ValidateSchedule(s, "schedule");
    ASSERT_FALSE(r.has_value()) << c.words;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(c.words), std::string::npos) << r.error().message;
  }
}

// Issue 22: a batch's on_failure and finally task.
TEST(ValidateBatchPolicy, OnFailureIsOneOfThreeAndTheErrorNamesThem) {
  for (const char* ok : {"cancel_dependents", "continue", "fail_fast"}) {
    EXPECT_TRUE(ValidateOnFailure(ok, "batch.on_failure").has_value()) << ok;
  }
  for (const char* bad : {"", "Continue", "fail-fast", "explode"}) {
    auto r = ValidateOnFailure(bad, "batch.on_failure");
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().message, "batch.on_failure: unknown value '" + std::string(bad) +
                                     "' (allowed: cancel_dependents, continue, fail_fast)");
  }
}

TEST(ValidateBatchPolicy, AnAppendLeavesTheBatchsOwnSettingsUnset) {
  BatchSpec b;
  EXPECT_TRUE(ValidateBatchAppend(b, "batch").has_value());  // no append_to: not judged
  b.append_to = "B1";
  b.labels = {{"stage", "two"}};
  EXPECT_TRUE(ValidateBatchAppend(b, "batch").has_value());
  auto why = [](BatchSpec s) {
    auto r = ValidateBatchAppend(s, "batch");
    return r ? std::string("(valid)") : r.error().message;
  };
  const std::string tail = ": must be unset when append_to is set (the batch's own applies)";
  BatchSpec x = b;
  x.id = "B2";
  EXPECT_EQ(why(x), "batch.id" + tail);
  x = b;
  x.budget = {{"usd", 1.0}};
  EXPECT_EQ(why(x), "batch.budget" + tail);
  x = b;
  x.on_failure = "continue";
  EXPECT_EQ(why(x), "batch.on_failure" + tail);
  x = b;
  x.finally = TaskSpec{};
  EXPECT_EQ(why(x), "batch.finally" + tail);
  x = b;
  x.append_to = "has space";
  EXPECT_NE(why(x).find("batch.append_to"), std::string::npos) << why(x);
}

TEST(ValidateBatchPolicy, AFinallyTaskHasNoParentsPayloadOrDelay) {
  TaskSpec f;
  f.type = "report";
  EXPECT_TRUE(ValidateFinally(f, "batch.finally").has_value());
  auto why = [](TaskSpec s) {
    auto r = ValidateFinally(s, "batch.finally");
    return r ? std::string("(valid)") : r.error().message;
  };
  TaskSpec p = f;
  p.depends_on = {"a"};
  EXPECT_EQ(why(p), "batch.finally.depends_on: must be empty (the finally task runs after every "
                    "other task)");
  p = f;
  p.payload = "x";
  EXPECT_EQ(why(p), "batch.finally.payload: must be empty (the finally task's input is the batch "
                    "summary)");
  p = f;
  p.not_before_ms = 5;
  EXPECT_EQ(why(p), "batch.finally.not_before_ms: must be 0 (it runs when the batch ends)");
  p = f;
  p.idempotency_key = "k";
  EXPECT_EQ(why(p), "batch.finally.idempotency_key: must be empty");
  p = f;
  p.type = "has space";
  EXPECT_NE(why(p).find("batch.finally.type"), std::string::npos) << why(p);
}

TEST(ValidateList, EveryStateButUnknownIsListableAndTheRestIsRefusedByName) {
  auto states = ListableTaskStates();
  ASSERT_GE(states.size(), 8u);
  EXPECT_EQ(states.front(), "queued");
  for (auto s : states) {
    List l;
    l.queue = "q";
    l.state = std::string(s);
    EXPECT_TRUE(ValidateList(l).has_value()) << s;
  }
  struct Case {
    std::function<void(List&)> change;
    std::string words;
  };
  std::vector<Case> cases = {
      {[](List& l) { l.state = "unknown"; }, "allowed: queued, delayed, blocked"},
      {[](List& l) { l.state = ""; }, "is not a task state"},
      {[](List& l) { l.queue = ""; }, "queue"},
      {[](List& l) { l.type = "a b"; }, "type"},
      {[](List& l) { l.limit = 0; }, "allowed: 1 to 1000"},
      {[](List& l) { l.limit = 1001; }, "allowed: 1 to 1000"},
      {[](List& l) { l.cursor = std::string(513, 'a'); }, "cursor"},
      {[](List& l) { l.cursor = "z:1 2"; }, "cursor"},
      {[](List& l) { l.what = "workers"; }, "allowed: tasks, batches"},
      {[](List& l) { l.what = "batches"; }, "takes no queue or type"},
      {[](List& l) {
         l.what = "batches";
         l.queue = "";
         l.state = "queued";
       },
       "allowed: running, succeeded, partial, failed"},
  };
  for (const auto& c : cases) {
    List l;
    l.queue = "q";
    l.state = "queued";
    c.change(l);
    auto r = ValidateList(l);
    ASSERT_FALSE(r.has_value()) << c.words;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(c.words), std::string::npos) << r.error().message;
  }
  List batches;
  batches.what = "batches";
  EXPECT_TRUE(ValidateList(batches).has_value());
}

TEST(ValidateUpdate, OpsAndPriorities) {
  Update u{1, "t1", "priority", 255};
  EXPECT_TRUE(ValidateUpdate(u).has_value());
  u.priority = 256;
  EXPECT_NE(ValidateUpdate(u).error().message.find("allowed: 0 to 255"), std::string::npos);
  Update p{1, "t1", "promote", 0};
  EXPECT_TRUE(ValidateUpdate(p).has_value());
  p.priority = 3;
  EXPECT_FALSE(ValidateUpdate(p).has_value());
  Update bad{1, "t1", "delete", 0};
  EXPECT_NE(ValidateUpdate(bad).error().message.find("allowed: priority, promote"),
            std::string::npos);
  Update noid{1, "", "promote", 0};
  EXPECT_FALSE(ValidateUpdate(noid).has_value());
}

}  // namespace
}  // namespace taskmill::protocol
