#include "taskmill/shared/duration.h"

#include <gtest/gtest.h>

namespace taskmill {
namespace {

TEST(Duration, ParsesEachUnit) {
  EXPECT_EQ(ParseDurationMs("250ms").value(), 250u);
  EXPECT_EQ(ParseDurationMs("30s").value(), 30'000u);
  EXPECT_EQ(ParseDurationMs("5m").value(), 300'000u);
  EXPECT_EQ(ParseDurationMs("2h").value(), 7'200'000u);
  EXPECT_EQ(ParseDurationMs("1ms").value(), 1u);
  EXPECT_EQ(ParseDurationMs("8760h").value(), kMaxDurationMs);
}

TEST(Duration, RefusesWithAMessageNamingWhatIsAllowed) {
  for (const char* bad : {"", "30", "s", "-5s", "1.5s", "5 m", "5M", "5sec", "1d", "0s", "0ms",
                          "8761h", "9999999999999h", "30s ", " 30s", "1h30m"}) {
    auto r = ParseDurationMs(bad, "--every");
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("--every: '"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("ms, s, m or h"), std::string::npos) << r.error().message;
  }
}

TEST(Duration, FormatsTheShortestExactForm) {
  EXPECT_EQ(FormatDurationMs(250), "250ms");
  EXPECT_EQ(FormatDurationMs(1500), "1500ms");
  EXPECT_EQ(FormatDurationMs(30'000), "30s");
  EXPECT_EQ(FormatDurationMs(90'000), "90s");
  EXPECT_EQ(FormatDurationMs(300'000), "5m");
  EXPECT_EQ(FormatDurationMs(7'200'000), "2h");
  for (uint64_t ms : {1ull, 999ull, 61'000ull, 3'600'001ull}) {
    EXPECT_EQ(ParseDurationMs(FormatDurationMs(ms)).value(), ms);
  }
}

}  // namespace
}  // namespace taskmill
