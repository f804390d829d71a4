#include "taskmill/shared/cron.h"

#include <gtest/gtest.h>

#include <chrono>

namespace taskmill {
namespace {

using namespace std::chrono;

// Civil minute of a wall-clock date and time.
int64_t At(int y, unsigned mo, unsigned d, int h, int mi) {
  auto days = sys_days{year{y} / month{mo} / std::chrono::day{d}}.time_since_epoch().count();
  return static_cast<int64_t>(days) * 1440 + h * 60 + mi;
}

int64_t Next(std::string_view expr, int64_t from) {
  auto e = CronExpr::Parse(expr);
  EXPECT_TRUE(e.has_value()) << expr << ": " << (e ? "" : e.error().message);
  auto n = e->NextAfter(from);
  EXPECT_TRUE(n.has_value()) << expr;
  return n.value_or(-1);
}

TEST(Cron, StepsRangesListsAndNames) {
  int64_t t = At(2026, 12, 5, 23, 21);  // a Saturday
  EXPECT_EQ(Next("*/5 * * * *", t), At(2026, 12, 5, 23, 25));
  EXPECT_EQ(Next("* * * * *", t), t + 1);
  EXPECT_EQ(Next("0 9-17/4 * * *", t), At(2026, 12, 6, 9, 0));
  EXPECT_EQ(Next("0 9-17/4 * * *", At(2026, 12, 6, 9, 0)), At(2026, 12, 6, 13, 0));
  EXPECT_EQ(Next("15,45 * * * *", t), At(2026, 12, 5, 23, 45));
  EXPECT_EQ(Next("0 8 * * MON-FRI", t), At(2026, 12, 7, 8, 0));
  EXPECT_EQ(Next("0 8 * * mon-fri", t), At(2026, 12, 7, 8, 0));
  EXPECT_EQ(Next("0 0 1 jan *", t), At(2027, 1, 1, 0, 0));
  EXPECT_EQ(Next("0 0 * * 7", t), At(2026, 12, 6, 0, 0));  // 7 is Sunday
  EXPECT_EQ(Next("0 0 * * 0", t), At(2026, 12, 6, 0, 0));
  EXPECT_EQ(Next("30 */6 * * *", t), At(2026, 12, 6, 0, 30));
  EXPECT_EQ(Next("10/20 * * * *", t), At(2026, 12, 5, 23, 30));
  EXPECT_EQ(Next("@hourly", t), At(2026, 12, 6, 0, 0));
  EXPECT_EQ(Next("@daily", t), At(2026, 12, 6, 0, 0));
  EXPECT_EQ(Next("@monthly", t), At(2027, 1, 1, 0, 0));
  EXPECT_EQ(Next("@weekly", t), At(2026, 12, 6, 0, 0));
  EXPECT_EQ(Next("@yearly", t), At(2027, 1, 1, 0, 0));
}

TEST(Cron, DayOfMonthOrDayOfWeekWhenBothAreRestricted) {
  int64_t t = At(2026, 12, 5, 23, 21);
  // The 13th, or any Friday: Friday Dec 11 comes first.
  EXPECT_EQ(Next("0 0 13 * FRI", t), At(2026, 12, 11, 0, 0));
  // With one of them starting with '*', both must match: the 1st that is a Friday.
  EXPECT_EQ(Next("0 0 13 * *", t), At(2026, 12, 13, 0, 0));
  EXPECT_EQ(Next("0 0 */31 * FRI", t), At(2027, 1, 1, 0, 0));
}

TEST(Cron, LeapDayIsFound) {
  EXPECT_EQ(Next("0 12 29 2 *", At(2026, 12, 5, 0, 0)), At(2028, 2, 29, 12, 0));
}

TEST(Cron, RefusesWithAMessageNamingWhatIsAllowed) {
  struct Case {
    const char* expr;
    const char* words;
  };
  for (auto [expr, words] : {Case{"", "expected 5"}, Case{"* * * *", "has 4 fields"},
                             Case{"* * * * * *", "has 6 fields"},
                             Case{"60 * * * *", "minute field '60' is out of range"},
                             Case{"* 24 * * *", "hour field"}, Case{"* * 0 * *", "day-of-month"},
                             Case{"* * * 13 *", "month field"}, Case{"* * * * 8", "day-of-week"},
                             Case{"*/0 * * * *", "bad step"}, Case{"5-1 * * * *", "backwards"},
                             Case{"a * * * *", "is not a value"}, Case{"1,,2 * * * *", "empty"},
                             Case{"* * * FOO *", "JAN-DEC"}, Case{"* * * * FUN", "SUN-SAT"},
                             Case{"0 0 30 2 *", "never matches"}, Case{"@often", "macro"},
                             Case{"-1 * * * *", "minute"}}) {
    auto r = CronExpr::Parse(expr);
    ASSERT_FALSE(r.has_value()) << expr;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(words), std::string::npos) << expr << ": " << r.error().message;
  }
}

TEST(Cron, NextAfterIsTheFirstMatchingMinute) {
  // Brute force over two days for a few expressions: NextAfter agrees with Matches.
  for (const char* expr : {"*/7 3-5 * * *", "0,30 * 6 * SAT", "59 23 * * 1-5"}) {
    auto e = CronExpr::Parse(expr).value();
    int64_t from = At(2026, 12, 4, 22, 0);
    int64_t want = from + 1;
    while (!e.Matches(want)) ++want;
    EXPECT_EQ(e.NextAfter(from).value(), want) << expr;
  }
}

}  // namespace
}  // namespace taskmill
