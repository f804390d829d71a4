// When ticks fall (TickClock: every, cron in a zone, across DST) and what a ticker round
// claims of a due schedule (ScheduleTicker::PlanTick: on time, or missed and caught up by
// the schedule's policy). No network, no clock: times are given.

#include <gtest/gtest.h>

#include "schedule/schedule_ticker.h"
#include "schedule/tick_clock.h"

namespace taskmill::broker {
namespace {

protocol::ScheduleInfo Every(uint64_t ms, std::string catch_up = "skip") {
  protocol::ScheduleInfo s;
  s.name = "s";
  s.every_ms = ms;
  s.catch_up = std::move(catch_up);
  s.task.type = "echo";
  return s;
}

protocol::ScheduleInfo Cron(std::string expr, std::string tz) {
  protocol::ScheduleInfo s;
  s.name = "c";
  s.cron = std::move(expr);
  s.tz = std::move(tz);
  s.task.type = "echo";
  return s;
}

// 2026-12-05T23:21:00Z and friends, in epoch ms.
constexpr int64_t kDec5_2321 = 1'764'976'860'000;

TEST(TickClock, EveryTicksOnMultiplesOfItsPeriod) {
  EXPECT_EQ(TickClock::NextTick(Every(1000), 1'500).value(), 2'000);
  EXPECT_EQ(TickClock::NextTick(Every(1000), 2'000).value(), 3'000);
  EXPECT_EQ(TickClock::NextTick(Every(300'000), kDec5_2321).value(), 1'764'977'100'000);
}

TEST(TickClock, CronFollowsTheWallClockOfItsZone) {
  // 09:00 in Paris is 08:00Z in winter (CET, +1) and 07:00Z in summer (CEST, +2).
  int64_t dec5 = kDec5_2321;
  EXPECT_EQ(TickClock::NextTick(Cron("0 9 * * *", "Europe/Paris"), dec5).value(),
            1'765'008'000'000);  // 2026-12-06T08:00:00Z
  EXPECT_EQ(TickClock::NextTick(Cron("0 9 * * *", ""), dec5).value(),
            1'765'011'600'000);  // 2026-12-06T09:00:00Z
  int64_t jun1 = 1'780'272'000'000;  // 2026-06-01T00:00:00Z
  EXPECT_EQ(TickClock::NextTick(Cron("0 9 * * *", "Europe/Paris"), jun1).value(),
            1'780'297'200'000);  // 2026-06-01T07:00:00Z
}

TEST(TickClock, ADstGapRunsAtTheChangeAndARepeatedHourRunsOnce) {
  // 2026-03-29: Paris jumps from 02:00 CET to 03:00 CEST at 01:00Z; 02:30 does not exist.
  int64_t mar29_0000z = 1'774'742'400'000;
  int64_t gap = TickClock::NextTick(Cron("30 2 * * *", "Europe/Paris"), mar29_0000z).value();
  EXPECT_EQ(gap, 1'774'746'000'000);  // 01:00Z, the change
  // 2026-10-25: 02:30 happens twice (00:30Z CEST, 01:30Z CET): once, the first.
  int64_t oct25_0000z = 1'792'886'400'000;
  int64_t first = TickClock::NextTick(Cron("30 2 * * *", "Europe/Paris"), oct25_0000z).value();
  EXPECT_EQ(first, oct25_0000z + 30 * 60'000);
  int64_t next = TickClock::NextTick(Cron("30 2 * * *", "Europe/Paris"), first).value();
  EXPECT_GT(next, first + 23 * 3'600'000);  // the next day's
}

TEST(TickClock, UnknownZonesAreRefusedNamingWhatIsAllowed) {
  EXPECT_TRUE(TickClock::CheckZone("Europe/Paris").has_value());
  EXPECT_TRUE(TickClock::CheckZone("").has_value());
  auto bad = TickClock::CheckZone("Mars/Olympus_Mons");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("Europe/Paris"), std::string::npos);
}

TEST(PlanTick, AnOnTimeTickFiresAndMovesToTheNext) {
  protocol::ScheduleInfo s = Every(1000);
  s.next_run_ms = 10'000;
  auto p = ScheduleTicker::PlanTick(s, 10'050, 5000).value();
  EXPECT_TRUE(p.claim.fire);
  EXPECT_EQ(p.claim.expect_ms, 10'000);
  EXPECT_EQ(p.claim.at_ms, 10'000);
  EXPECT_EQ(p.claim.next_ms, 11'000);
  EXPECT_EQ(p.claim.missed, 0u);
  EXPECT_EQ(p.spec.idempotency_key, "sched:s:10000");
  EXPECT_EQ(p.spec.labels.at("schedule_tick_ms"), "10000");
  // Late, but within the grace (a busy broker): still on time, one tick after another.
  p = ScheduleTicker::PlanTick(s, 14'000, 5000).value();
  EXPECT_TRUE(p.claim.fire);
  EXPECT_EQ(p.claim.next_ms, 11'000);
}

TEST(PlanTick, MissedTicksAreSkippedOrRunOnceByPolicy) {
  // Due at 10 s; no broker ran until 30.5 s; grace 5 s: ticks 10..25 s were missed.
  protocol::ScheduleInfo s = Every(1000, "skip");
  s.next_run_ms = 10'000;
  auto skip = ScheduleTicker::PlanTick(s, 30'500, 5000).value();
  EXPECT_FALSE(skip.claim.fire);
  EXPECT_EQ(skip.claim.missed, 16u);
  EXPECT_EQ(skip.claim.next_ms, 26'000);  // the first tick within the grace: runs on time
  s.catch_up = "once";
  auto once = ScheduleTicker::PlanTick(s, 30'500, 5000).value();
  EXPECT_TRUE(once.claim.fire);
  EXPECT_EQ(once.claim.missed, 16u);
  EXPECT_EQ(once.claim.at_ms, 25'000);  // stands for the last missed tick
  EXPECT_EQ(once.claim.next_ms, 26'000);
  EXPECT_EQ(once.spec.labels.at("schedule_catch_up"), "once");
  // Cron schedules count their misses tick by tick.
  protocol::ScheduleInfo c = Cron("* * * * *", "");
  c.next_run_ms = 60'000;
  auto cron = ScheduleTicker::PlanTick(c, 600'000, 5000).value();
  EXPECT_FALSE(cron.claim.fire);
  EXPECT_EQ(cron.claim.missed, 9u);  // 1..9 min
  EXPECT_EQ(cron.claim.next_ms, 600'000);
}

}  // namespace
}  // namespace taskmill::broker
