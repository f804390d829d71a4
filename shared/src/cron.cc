#include "taskmill/shared/cron.h"

#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <vector>

namespace taskmill {

namespace {

constexpr std::string_view kFieldNames[5] = {"minute", "hour", "day-of-month", "month",
                                             "day-of-week"};
constexpr int kMin[5] = {0, 0, 1, 1, 0};
constexpr int kMax[5] = {59, 23, 31, 12, 7};
constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR",
                                                          "MAY", "JUN", "JUL", "AUG",
                                                          "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames = {"SUN", "MON", "TUE", "WED",
                                                       "THU", "FRI", "SAT"};
constexpr int64_t kSearchDays = 9 * 366;  // covers the 8-year gap between two Feb 29ths

std::string Allowed(int f) {
  std::string out = "allowed: *, a number " + std::to_string(kMin[f]) + "-" +
                    std::to_string(kMax[f]) + ", a range a-b, a step */n or a-b/n, or a comma list";
  if (f == 3) out += "; or JAN-DEC";
  if (f == 4) out += "; or SUN-SAT (0 and 7 are Sunday)";
  return out;
}

std::unexpected<Error> FieldError(int f, std::string_view field, std::string_view why) {
  return MakeError(ErrorCode::kInvalidArgument,
                   "cron " + std::string(kFieldNames[f]) + " field '" +
                       std::string(field.substr(0, 40)) + "' " + std::string(why) + " (" +
                       Allowed(f) + ")");
}

// A number or (months, weekdays) a three-letter name.
std::optional<int> Value(int f, std::string_view s) {
  if (s.empty()) return std::nullopt;
  if (s.size() == 3 && (f == 3 || f == 4)) {
    std::string up(s);
    for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (f == 3) {
      for (size_t i = 0; i < kMonthNames.size(); ++i) {
        if (up == kMonthNames[i]) return static_cast<int>(i) + 1;
      }
    } else {
      for (size_t i = 0; i < kDayNames.size(); ++i) {
        if (up == kDayNames[i]) return static_cast<int>(i);
      }
    }
  }
  if (s.size() > 3) return std::nullopt;
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Sets the bits of one field; bit i is value i (day-of-week 7 folds into 0 later).
Result<std::vector<bool>> ParseField(int f, std::string_view field) {
  std::vector<bool> bits(static_cast<size_t>(kMax[f]) + 1, false);
  if (field.empty()) return FieldError(f, field, "is empty");
  size_t start = 0;
  while (start <= field.size()) {
    size_t comma = field.find(',', start);
    std::string_view item =
        field.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                             : comma - start);
    if (item.empty()) return FieldError(f, field, "has an empty list item");
    int step = 1;
    if (size_t slash = item.find('/'); slash != std::string_view::npos) {
      auto s = Value(-1, item.substr(slash + 1));
      if (!s || *s < 1 || *s > kMax[f]) return FieldError(f, field, "has a bad step");
      step = *s;
      item = item.substr(0, slash);
    }
    int lo = kMin[f];
    int hi = kMax[f];
    if (item == "*") {
      if (f == 4) hi = 6;  // 7 is Sunday again
    } else if (size_t dash = item.find('-'); dash != std::string_view::npos) {
      auto a = Value(f, item.substr(0, dash));
      auto b = Value(f, item.substr(dash + 1));
      if (!a || !b) return FieldError(f, field, "has a range that is not two values");
      lo = *a;
      hi = *b;
      if (lo > hi) return FieldError(f, field, "has a range running backwards");
    } else {
      auto a = Value(f, item);
      if (!a) return FieldError(f, field, "is not a value");
      lo = *a;
      // "a/n": from a to the field's end (crontab(5) of cronie).
      if (step == 1) hi = lo;
    }
    if (lo < kMin[f] || hi > kMax[f]) return FieldError(f, field, "is out of range");
    for (int v = lo; v <= hi; v += step) bits[static_cast<size_t>(v)] = true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return bits;
}

std::string_view Macro(std::string_view text) {
  if (text == "@yearly" || text == "@annually") return "0 0 1 1 *";
  if (text == "@monthly") return "0 0 1 * *";
  if (text == "@weekly") return "0 0 * * 0";
  if (text == "@daily" || text == "@midnight") return "0 0 * * *";
  if (text == "@hourly") return "0 * * * *";
  return {};
}

std::chrono::year_month_day Civil(int64_t day) {
  return std::chrono::year_month_day{std::chrono::sys_days{std::chrono::days{day}}};
}

}  // namespace

Result<CronExpr> CronExpr::Parse(std::string_view text) {
  if (text.size() > 256) {
    return MakeError(ErrorCode::kInvalidArgument, "cron expression is over 256 bytes");
  }
  if (!text.empty() && text[0] == '@') {
    std::string_view expanded = Macro(text);
    if (expanded.empty()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "cron '" + std::string(text) +
                           "' is not a known macro (allowed: @hourly, @daily, @midnight, "
                           "@weekly, @monthly, @yearly, @annually)");
    }
    text = expanded;
  }
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != '\t') ++j;
    if (j > i) fields.push_back(text.substr(i, j - i));
    i = j;
  }
  if (fields.size() != 5) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "cron '" + std::string(text.substr(0, 64)) + "' has " +
                         std::to_string(fields.size()) +
                         " fields; expected 5: minute hour day-of-month month day-of-week "
                         "(e.g. \"*/5 * * * *\"), or @hourly, @daily, @weekly, @monthly, "
                         "@yearly");
  }
  CronExpr e;
  for (int f = 0; f < 5; ++f) {
    auto parsed = ParseField(f, fields[static_cast<size_t>(f)]);
    if (!parsed) return std::unexpected(parsed.error());
    const std::vector<bool>& bits = *parsed;
    for (size_t v = 0; v < bits.size(); ++v) {
      if (!bits[v]) continue;
      switch (f) {
        case 0:
          e.minutes_.set(v);
          break;
        case 1:
          e.hours_.set(v);
          break;
        case 2:
          e.days_.set(v);
          break;
        case 3:
          e.months_.set(v);
          break;
        default:
          e.weekdays_.set(v % 7);
          break;
      }
    }
  }
  e.day_star_ = fields[2][0] == '*';
  e.weekday_star_ = fields[4][0] == '*';
  if (!e.NextAfter(0)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "cron '" + std::string(text.substr(0, 64)) +
                         "' never matches a date (e.g. February 30th)");
  }
  return e;
}

bool CronExpr::DayMatches(int64_t day) const {
  auto ymd = Civil(day);
  if (!months_.test(static_cast<unsigned>(ymd.month()))) return false;
  bool dom = days_.test(static_cast<unsigned>(ymd.day()));
  unsigned wd = std::chrono::weekday{std::chrono::sys_days{std::chrono::days{day}}}.c_encoding();
  bool dow = weekdays_.test(wd);
  if (day_star_ || weekday_star_) return dom && dow;
  return dom || dow;
}

bool CronExpr::Matches(int64_t minute) const {
  int64_t day = minute >= 0 ? minute / 1440 : (minute - 1439) / 1440;
  int64_t in_day = minute - day * 1440;
  return DayMatches(day) && hours_.test(static_cast<size_t>(in_day / 60)) &&
         minutes_.test(static_cast<size_t>(in_day % 60));
}

std::optional<int64_t> CronExpr::NextAfter(int64_t minute) const {
  int64_t t = minute + 1;
  int64_t day = t >= 0 ? t / 1440 : (t - 1439) / 1440;
  int64_t last_day = day + kSearchDays;
  while (day <= last_day) {
    if (!DayMatches(day)) {
      ++day;
      t = day * 1440;
      continue;
    }
    int64_t in_day = t - day * 1440;
    for (int64_t h = in_day / 60; h < 24; ++h) {
      if (!hours_.test(static_cast<size_t>(h))) continue;
      int64_t m0 = h == in_day / 60 ? in_day % 60 : 0;
      for (int64_t m = m0; m < 60; ++m) {
        if (minutes_.test(static_cast<size_t>(m))) return day * 1440 + h * 60 + m;
      }
    }
    ++day;
    t = day * 1440;
  }
  return std::nullopt;
}

}  // namespace taskmill
