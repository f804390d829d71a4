// ParseQueueLimits: every LIMIT string users type, the canonical text, and the refusals with
// a message naming what is allowed.

#include "taskmill/shared/limit_spec.h"

#include <gtest/gtest.h>

namespace taskmill {
namespace {

protocol::Limit Lim() {
  protocol::Limit l;
  l.queue = "q";
  return l;
}

std::string Refusal(const protocol::Limit& l) {
  auto r = ParseQueueLimits(l);
  EXPECT_FALSE(r.has_value()) << "accepted: " << (r ? r->Text() : "");
  if (r) return "";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  return r.error().message;
}

TEST(LimitSpec, ParsesEveryPartAndPrintsItCanonically) {
  auto l = Lim();
  l.rate = "100/s";
  l.concurrency = 5;
  l.cost_rate = "usd=2.5/h";
  l.key_label = "tenant";
  l.round_robin = true;
  auto r = ParseQueueLimits(l);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->rate_n, 100u);
  EXPECT_EQ(r->rate_ms, 1000);
  EXPECT_EQ(r->concurrency, 5u);
  EXPECT_EQ(r->cost_name, "usd");
  EXPECT_DOUBLE_EQ(r->cost_amount, 2.5);
  EXPECT_EQ(r->cost_ms, 3'600'000);
  EXPECT_EQ(r->Text(), "rate=100/s concurrency=5 cost-rate=usd=2.5/h key=tenant round-robin");
  auto a = Lim();
  a.aging = "90s";
  EXPECT_EQ(ParseQueueLimits(a)->Text(), "aging=90s");
  a.aging = "2h";
  EXPECT_EQ(ParseQueueLimits(a)->aging_ms, 7'200'000);
  a.aging = "1500ms";
  EXPECT_EQ(ParseQueueLimits(a)->Text(), "aging=1500ms");
  auto m = Lim();
  m.rate = "30/m";
  EXPECT_EQ(ParseQueueLimits(m)->rate_ms, 60'000);
  auto c = Lim();
  c.clear = true;
  EXPECT_EQ(ParseQueueLimits(c)->Text(), "");
}

TEST(LimitSpec, RefusesWhatCannotBeParsedNamingWhatIsAllowed) {
  for (const char* bad : {"10", "10/", "/s", "10/d", "ten/s", "0/s", "-1/s", "1.5/s",
                          "2000000000/s", "10/s "}) {
    auto l = Lim();
    l.rate = bad;
    EXPECT_NE(Refusal(l).find("rate"), std::string::npos) << bad;
  }
  auto l = Lim();
  l.rate = "10/x";
  EXPECT_NE(Refusal(l).find("100/s, 30/m, 1000/h"), std::string::npos);
  for (const char* bad : {"usd", "usd=5", "=5/h", "usd=/h", "usd=0/h", "usd=-1/h", "usd=x/h",
                          "usd=5/d", "usd=nan/h", "us d=5/h"}) {
    auto c = Lim();
    c.cost_rate = bad;
    EXPECT_FALSE(Refusal(c).empty()) << bad;
  }
  // The shared duration parser (duration.h): its one error style, a bare number refused.
  for (const char* bad : {"5 minutes", "5min", "m", "0s", "-5s", "25h", "1.5s", "250"}) {
    auto a = Lim();
    a.aging = bad;
    auto why = Refusal(a);
    EXPECT_EQ(why.rfind("aging: '", 0), 0u) << bad << ": " << why;
    EXPECT_NE(why.find(std::string(bad) == "25h" ? "at most 24h" : "ms, s, m or h"),
              std::string::npos)
        << bad << ": " << why;
  }
  auto rr = Lim();
  rr.round_robin = true;
  EXPECT_NE(Refusal(rr).find("key-label"), std::string::npos);
  rr.key_label = "tenant";
  rr.aging = "1s";
  EXPECT_NE(Refusal(rr).find("cannot be combined"), std::string::npos);
  EXPECT_NE(Refusal(Lim()).find("at least one"), std::string::npos);
  auto both = Lim();
  both.clear = true;
  both.concurrency = 3;
  EXPECT_NE(Refusal(both).find("alone"), std::string::npos);
  auto q = Lim();
  q.queue = "bad queue";
  q.concurrency = 1;
  EXPECT_NE(Refusal(q).find("queue"), std::string::npos);
  auto k = Lim();
  k.concurrency = 1;
  k.key_label = "a/b";
  EXPECT_NE(Refusal(k).find("key-label"), std::string::npos);
}

}  // namespace
}  // namespace taskmill
