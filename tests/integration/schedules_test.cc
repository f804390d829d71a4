// Periodic schedules (issue 21) with real processes: three brokers on one Redis store exactly
// one task per tick, with no gap; with every broker down over some ticks, a schedule's
// catch-up policy decides (skip: none of them run; once: one task for all of them); pause,
// resume and remove; bad definitions refused with a message naming what is allowed; the CLI.
// Assertions are on the stored tasks' tick times (each tick's idempotency key
// sched:<name>:<tick ms> names its task), not on wall-clock sleeps.

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "flow_helpers.h"
#include "redis/sync_redis.h"
#include "support/brokers_fixture.h"
#include "support/http_get.h"

namespace taskmill::testing {
namespace {

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Metric(const std::string& page, const std::string& name) {
  size_t at = page.find("\n" + name + "{");
  if (at == std::string::npos) return 0;
  size_t space = page.find("} ", at);
  if (space == std::string::npos) return 0;
  return std::strtod(page.c_str() + space + 2, nullptr);
}

class Schedules : public BrokersOnOneRedis {
 protected:
  static constexpr const char* kIds[] = {"A", "B", "C"};

  Schedules()
      : BrokersOnOneRedis({.name = "schedules",
                           .prefix = "tms",
                           .brokers = {kIds[0], kIds[1], kIds[2]},
                           .launch = {.extra_args = {"--schedule-grace", "1500ms"}}}) {}
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(BrokersOnOneRedis::SetUp());
    sync_ = std::make_unique<broker::SyncRedis>(redis_->config(), 5000);
  }
  void TearDown() override {
    sync_.reset();
    BrokersOnOneRedis::TearDown();
  }
  static protocol::ScheduleInfo Every(std::string name, uint64_t ms, std::string catch_up) {
    protocol::ScheduleInfo s;
    s.name = std::move(name);
    s.every_ms = ms;
    s.catch_up = std::move(catch_up);
    s.task.type = "echo";
    s.task.queue = "sched";
    return s;
  }
  Result<protocol::Reply> Send(const std::string& broker, protocol::Schedule req) {
    WireClient c(endpoints_.at(broker).frontend);
    auto r = c.Call(std::move(req));
    if (r && r->error) return MakeError(ErrorCodeFromName(r->error->code), r->error->message);
    return r;
  }
  void Add(const std::string& broker, const protocol::ScheduleInfo& s) {
    auto r = Send(broker, protocol::Schedule{0, protocol::ScheduleOp::kAdd, "", s});
    ASSERT_TRUE(r.has_value()) << r.error().message;
    ASSERT_EQ(r->schedules.size(), 1u);
  }
  std::map<std::string, protocol::ScheduleInfo> List(const std::string& broker) {
    std::map<std::string, protocol::ScheduleInfo> out;
    auto r = Send(broker, protocol::Schedule{0, protocol::ScheduleOp::kList, "", std::nullopt});
    if (r) {
      for (auto& s : r->schedules) out[s.name] = s;
    }
    return out;
  }
  uint64_t Fired(const std::string& broker, const std::string& name) {
    auto all = List(broker);
    return all.count(name) ? all[name].fired : 0;
  }
  // Tick time -> task id of every tick of `name` that stored a task (its idempotency key).
  std::map<int64_t, std::string> Ticks(const std::string& name) {
    std::map<int64_t, std::string> out;
    std::string head = prefix_ + "idem:sched:" + name + ":";
    auto keys = sync_->Command({"KEYS", head + "*"});
    EXPECT_TRUE(keys.has_value());
    if (!keys) return out;
    for (size_t i = 0; i < (*keys)->elements; ++i) {
      std::string key((*keys)->element[i]->str, (*keys)->element[i]->len);
      auto id = sync_->Command({"GET", key});
      EXPECT_TRUE(id.has_value());
      out[std::stoll(key.substr(head.size()))] = id ? std::string((*id)->str, (*id)->len) : "";
    }
    return out;
  }
  int64_t Queued() {
    auto n = sync_->Command({"ZCARD", prefix_ + "q:sched:echo"});
    return n ? (*n)->integer : -1;
  }
  // The gaps (> period) between consecutive ticks.
  static std::vector<int64_t> Gaps(const std::map<int64_t, std::string>& ticks, int64_t period) {
    std::vector<int64_t> gaps;
    int64_t prev = -1;
    for (const auto& [t, id] : ticks) {
      EXPECT_EQ(t % period, 0) << "tick " << t << " is not on the period";
      if (prev >= 0 && t - prev != period) gaps.push_back(t - prev);
      prev = t;
    }
    return gaps;
  }

  std::unique_ptr<broker::SyncRedis> sync_;  // the test's own view of the brokers' Redis
};

TEST_F(Schedules, ThreeBrokersStoreExactlyOneTaskPerTickWithNoGap) {
  ASSERT_NO_FATAL_FAILURE(Add("A", Every("hb", 1000, "skip")));
  constexpr uint64_t kTicks = 8;
  ASSERT_TRUE(WaitFor([&] { return Fired("B", "hb") >= kTicks; }, 30000)) << Logs();
  auto paused = Send("C", protocol::Schedule{0, protocol::ScheduleOp::kPause, "hb", std::nullopt});
  ASSERT_TRUE(paused.has_value()) << paused.error().message;
  protocol::ScheduleInfo s = List("A").at("hb");
  auto ticks = Ticks("hb");
  // One task per tick: as many tasks stored as ticks fired, each tick its own task.
  std::string listed;
  for (const auto& [t, id] : ticks) listed += " " + std::to_string(t) + "=" + id;
  EXPECT_EQ(ticks.size(), s.fired) << listed << " last " << s.last_run_ms << " " << s.last_task_id;
  EXPECT_EQ(Queued(), static_cast<int64_t>(s.fired));
  std::set<std::string> ids;
  for (const auto& [t, id] : ticks) ids.insert(id);
  EXPECT_EQ(ids.size(), ticks.size());
  // No gap: consecutive seconds from the first to the last.
  EXPECT_TRUE(Gaps(ticks, 1000).empty());
  EXPECT_EQ(s.missed, 0u);
  ASSERT_FALSE(ticks.empty());
  EXPECT_EQ(s.last_run_ms, ticks.rbegin()->first);
  // The brokers' own counts add up to the same (their pages are republished every 250 ms),
  // and /metrics shows the schedule.
  double fired = 0;
  double schedules = 0;
  EXPECT_TRUE(WaitFor(
      [&] {
        fired = schedules = 0;
        for (const char* id : kIds) {
          auto page = HttpGet(endpoints_.at(id).http, "/metrics");
          fired += Metric("\n" + page.body, "taskmill_schedule_ticks_fired_total");
          schedules += Metric("\n" + page.body, "taskmill_schedules");
        }
        return fired == static_cast<double>(s.fired) && schedules == 3;
      },
      5000))
      << "fired " << fired << " of " << s.fired << "; schedules " << schedules;
}

TEST_F(Schedules, PausedSchedulesDoNotTickResumeFromNowAndRemovedOnesAreGone) {
  ASSERT_NO_FATAL_FAILURE(Add("A", Every("p", 1000, "once")));
  ASSERT_TRUE(WaitFor([&] { return Fired("A", "p") >= 2; }, 20000)) << Logs();
  auto paused = Send("B", protocol::Schedule{0, protocol::ScheduleOp::kPause, "p", std::nullopt});
  ASSERT_TRUE(paused.has_value()) << paused.error().message;
  int64_t paused_at = WallMs();
  uint64_t fired = List("A").at("p").fired;
  // Three periods pass while paused (time passing is what is under test here).
  ASSERT_TRUE(WaitFor([&] { return WallMs() >= paused_at + 3000; }, 10000));
  EXPECT_EQ(List("C").at("p").fired, fired) << "a paused schedule ticked";
  ASSERT_EQ(paused->schedules.size(), 1u);
  EXPECT_TRUE(paused->schedules[0].paused);
  auto resumed = Send("C", protocol::Schedule{0, protocol::ScheduleOp::kResume, "p", std::nullopt});
  ASSERT_TRUE(resumed.has_value()) << resumed.error().message;
  int64_t resumed_at = WallMs();
  ASSERT_TRUE(WaitFor([&] { return Fired("A", "p") >= fired + 2; }, 20000)) << Logs();
  // Ticks that fell while paused neither ran nor count as missed (no catch-up on resume).
  for (const auto& [t, id] : Ticks("p")) {
    EXPECT_FALSE(t > paused_at + 100 && t < resumed_at - 100) << "tick " << t << " ran paused";
  }
  EXPECT_EQ(List("A").at("p").missed, 0u);
  auto removed = Send("A", protocol::Schedule{0, protocol::ScheduleOp::kRemove, "p", std::nullopt});
  ASSERT_TRUE(removed.has_value()) << removed.error().message;
  EXPECT_TRUE(List("B").empty());
  auto again = Send("A", protocol::Schedule{0, protocol::ScheduleOp::kPause, "p", std::nullopt});
  ASSERT_FALSE(again.has_value());
  EXPECT_NE(again.error().message.find("no schedule named p"), std::string::npos);
}

TEST_F(Schedules, TicksMissedWhileEveryBrokerWasDownAreSkippedOrRunOnce) {
  ASSERT_NO_FATAL_FAILURE(Add("A", Every("skipper", 1000, "skip")));
  ASSERT_NO_FATAL_FAILURE(Add("B", Every("oncer", 1000, "once")));
  ASSERT_TRUE(WaitFor([&] { return Fired("A", "skipper") >= 2 && Fired("A", "oncer") >= 2; },
                      20000))
      << Logs();
  for (const char* id : kIds) brokers_.at(id).Kill9();
  int64_t down_at = WallMs();
  uint64_t skip_before = Ticks("skipper").size();
  uint64_t once_before = Ticks("oncer").size();
  // Down for 4 s, over 1.5 s of grace: two or more ticks fall with no broker to run them.
  ASSERT_TRUE(WaitFor([&] { return WallMs() >= down_at + 4000; }, 10000));
  for (const char* id : kIds) ASSERT_NO_FATAL_FAILURE(StartBroker(id));
  ASSERT_TRUE(WaitFor(
      [&] {
        return Ticks("skipper").size() >= skip_before + 3 && Ticks("oncer").size() >= once_before + 3;
      },
      20000))
      << Logs();
  auto all = List("C");
  // skip: the missed ticks did not run; the schedule went on with its next tick.
  const auto& skip = all.at("skipper");
  auto skip_gaps = Gaps(Ticks("skipper"), 1000);
  ASSERT_EQ(skip_gaps.size(), 1u) << "one outage, one gap";
  EXPECT_GE(skip.missed, 1u);
  EXPECT_EQ(skip_gaps[0], static_cast<int64_t>(skip.missed + 1) * 1000);
  // once: one task stands for every missed tick (the last of them), then on as usual.
  const auto& once = all.at("oncer");
  auto once_ticks = Ticks("oncer");
  auto once_gaps = Gaps(once_ticks, 1000);
  EXPECT_GE(once.missed, 1u);
  if (once.missed == 1) {
    EXPECT_TRUE(once_gaps.empty());  // the one missed tick ran late: no gap at all
  } else {
    ASSERT_EQ(once_gaps.size(), 1u);
    EXPECT_EQ(once_gaps[0], static_cast<int64_t>(once.missed) * 1000);
  }
  EXPECT_EQ(once_ticks.size(), once.fired);
  EXPECT_EQ(Ticks("skipper").size(), skip.fired);
  // Everything survived the restart: state is in Redis.
  EXPECT_EQ(Queued(), static_cast<int64_t>(skip.fired + once.fired));
}

TEST_F(Schedules, BadDefinitionsAreRefusedNamingWhatIsAllowed) {
  struct Case {
    std::function<void(protocol::ScheduleInfo&)> change;
    const char* words;
  };
  std::vector<Case> cases = {
      {[](auto& s) { s.every_ms = 0, s.cron = "61 * * * *"; }, "minute field"},
      {[](auto& s) { s.every_ms = 0, s.cron = "* * *"; }, "expected 5"},
      {[](auto& s) { s.every_ms = 0, s.cron = "0 9 * * *", s.tz = "Mars/Base"; },
       "not a time zone"},
      {[](auto& s) { s.every_ms = 500; }, "1s to 365 days"},
      {[](auto& s) { s.catch_up = "all"; }, "skip, once"},
      {[](auto& s) { s.task.type = ""; }, "task.type"},
  };
  for (const auto& c : cases) {
    protocol::ScheduleInfo s = Every("bad", 1000, "skip");
    c.change(s);
    auto r = Send("A", protocol::Schedule{0, protocol::ScheduleOp::kAdd, "", s});
    ASSERT_FALSE(r.has_value()) << c.words;
    EXPECT_NE(r.error().message.find(c.words), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(List("A").empty());
  auto page = HttpGet(endpoints_.at("A").http, "/metrics");
  EXPECT_EQ(Metric("\n" + page.body, "taskmill_schedules"), 0);
}

TEST_F(Schedules, TheCliAddsListsPausesResumesAndRemoves) {
  auto no_env = [](const std::string&) { return std::string(); };
  std::string last_out;
  auto run = [&](std::vector<std::string> args, std::string* out_text = nullptr) {
    std::ostringstream out, err;
    args.insert(args.begin(), {"taskmill", "--broker", endpoints_.at("B").frontend});
    int code = client::cli::RunCli(args, out, err, false, no_env);
    if (out_text) *out_text = out.str() + err.str();
    last_out = out.str();
    return code;
  };
  std::string text;
  EXPECT_EQ(run({"schedule", "add", "nightly", "--cron", "0 3 * * *", "--tz", "Europe/Paris",
                 "--type", "echo", "--queue", "reports", "--label", "team=ops"},
                &text),
            0)
      << text;
  EXPECT_NE(text.find("schedule nightly added; next run "), std::string::npos) << text;
  EXPECT_EQ(run({"schedule", "add", "beat", "--every", "30s", "--type", "echo", "--catch-up",
                 "once"},
                &text),
            0)
      << text;
  EXPECT_EQ(run({"--json", "schedule", "list"}, &text), 0) << text;
  auto doc = nlohmann::json::parse(last_out);
  ASSERT_EQ(doc.size(), 2u);
  EXPECT_EQ(doc[0]["name"], "beat");
  EXPECT_EQ(doc[0]["every"], "30s");
  EXPECT_EQ(doc[0]["catch_up"], "once");
  EXPECT_EQ(doc[1]["tz"], "Europe/Paris");
  EXPECT_GT(doc[1]["next_run_ms"].get<int64_t>(), WallMs());
  // The dashboard's API lists them too, with their next run.
  auto api = HttpGet(endpoints_.at("C").http, "/api/schedules");
  ASSERT_EQ(api.status, 200) << api.body;
  auto listed = nlohmann::json::parse(api.body);
  ASSERT_EQ(listed["schedules"].size(), 2u);
  EXPECT_EQ(listed["schedules"][1]["name"], "nightly");
  EXPECT_EQ(listed["schedules"][1]["next_run_ms"], doc[1]["next_run_ms"]);
  EXPECT_EQ(run({"schedule", "pause", "nightly"}, &text), 0) << text;
  EXPECT_NE(text.find("paused"), std::string::npos);
  EXPECT_EQ(run({"schedule", "resume", "nightly"}, &text), 0) << text;
  EXPECT_EQ(run({"schedule", "remove", "beat"}, &text), 0) << text;
  EXPECT_EQ(run({"schedule", "list"}, &text), 0) << text;
  EXPECT_NE(text.find("nightly"), std::string::npos);
  EXPECT_EQ(text.find("beat"), std::string::npos);
  // Refused before anything is sent, with what is allowed.
  EXPECT_EQ(run({"schedule", "add", "x", "--every", "5 minutes", "--type", "echo"}, &text), 2);
  EXPECT_NE(text.find("ms, s, m or h"), std::string::npos) << text;
  EXPECT_EQ(run({"schedule", "add", "x", "--cron", "* * * *", "--type", "echo"}, &text), 2);
  EXPECT_NE(text.find("expected 5"), std::string::npos) << text;
  EXPECT_EQ(run({"schedule", "add", "x", "--type", "echo"}, &text), 2);
  EXPECT_NE(text.find("--cron or --every"), std::string::npos) << text;
  // The zone is checked by the broker (its tz database): exit 2, invalid input.
  EXPECT_EQ(run({"schedule", "add", "x", "--cron", "0 3 * * *", "--tz", "Nowhere/Land",
                 "--type", "echo"},
                &text),
            2);
  EXPECT_NE(text.find("not a time zone"), std::string::npos) << text;
  EXPECT_EQ(run({"schedule", "pause", "nope"}, &text), 1);
  EXPECT_NE(text.find("no schedule named nope"), std::string::npos) << text;
}

}  // namespace
}  // namespace taskmill::testing
