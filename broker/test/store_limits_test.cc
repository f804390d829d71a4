// Queue limits and fairness in the store (limit.lua, claim.lua, lib/limits.lua): the rate,
// concurrency and cost-rate limits enforced at claim time, per queue or per label value;
// priority aging and round robin between label values. A FakeClock drives time, so each
// bound is checked exactly.

#include <algorithm>
#include <map>
#include <set>

#include "store_test_util.h"
#include "taskmill/shared/limit_spec.h"

namespace taskmill::broker {
namespace {

class StoreLimitsTest : public StoreTest {
 protected:
  // Sets the limits of `queue` from a LIMIT as a client would send it.
  std::string SetLimit(protocol::Limit limit) {
    auto parsed = ParseQueueLimits(limit);
    EXPECT_TRUE(parsed.has_value()) << parsed.error().message;
    if (!parsed) return "";
    auto r = Await<std::string>(
        [&](auto cb) { store_->SetLimit(limit.queue, limit.clear, *parsed, cb); });
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? *r : "";
  }
  static protocol::Limit Lim(std::string queue = "default") {
    protocol::Limit l;
    l.queue = std::move(queue);
    return l;
  }
  static protocol::TaskSpec Tenant(const std::string& tenant, uint8_t prio = 0) {
    auto s = Spec("echo", prio);
    s.labels = {{"tenant", tenant}};
    return s;
  }
  void EnqueueN(size_t n, const protocol::TaskSpec& s) {
    std::vector<protocol::TaskSpec> specs(n, s);
    EnqueueOk(std::move(specs));
  }
  std::string TenantOf(const protocol::TaskMsg& m) {
    auto it = m.labels.find("tenant");
    return it == m.labels.end() ? "" : it->second;
  }
};

TEST_F(StoreLimitsTest, ConcurrencyCapCountsLeasesAndEveryEndOfALeaseGivesItsSlotBack) {
  auto l = Lim();
  l.concurrency = 2;
  EXPECT_EQ(SetLimit(l), "concurrency=2");
  auto s = Spec();
  s.max_attempts = 10;
  s.backoff = BackoffPolicy{0, 0, 1.0, false};
  EnqueueN(20, s);

  auto a = ClaimOk(10, {"default"}, {}, "w1", 5000);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_TRUE(ClaimOk(10, {"default"}, {}, "w2").empty()) << "the cap is shared by workers";
  EXPECT_EQ(StatsOf("default").stats.limit_running, 2u);
  EXPECT_GT(StatsOf("default").stats.throttled, 0u);

  // Success gives a slot back.
  FinishOk({Ok(a[0])});
  auto b = ClaimOk(10, {"default"}, {}, "w1", 5000);
  ASSERT_EQ(b.size(), 1u);
  // So does a failure (retried).
  FinishOk({Fail(b[0], true)});
  auto c = ClaimOk(10, {"default"}, {}, "w1", 5000);
  ASSERT_EQ(c.size(), 1u);
  // A reaped lease (a[1] and c[0], both on w1 with 5 s leases).
  clock_.Advance(5001);
  auto reaped = Await<FinishResult>([&](auto cb) { store_->Reap(100, cb); });
  ASSERT_TRUE(reaped.has_value());
  EXPECT_EQ(reaped->items.size(), 2u);
  auto d = ClaimOk(10, {"default"}, {}, "w3");
  ASSERT_EQ(d.size(), 2u);
  // A released worker.
  auto released = Await<FinishResult>([&](auto cb) { store_->ReleaseWorker("w3", cb); });
  ASSERT_TRUE(released.has_value());
  EXPECT_EQ(released->items.size(), 2u);
  auto e = ClaimOk(10, {"default"}, {}, "w4");
  ASSERT_EQ(e.size(), 2u);
  // A cancel of a running task ends through its DONE.
  auto cancelled = Await<CancelResult>([&](auto cb) { store_->Cancel({e[0].task_id}, "x", cb); });
  ASSERT_TRUE(cancelled.has_value());
  FinishOk({Fail(e[0], true)}, "w4");
  FinishOk({Ok(e[1])}, "w4");
  EXPECT_EQ(StatsOf("default").stats.limit_running, 0u) << "every lease ended";
  EXPECT_EQ(ClaimOk(10, {"default"}, {}, "w5").size(), 2u);
}

TEST_F(StoreLimitsTest, ConcurrencyCapPerLabelValue) {
  auto l = Lim();
  l.concurrency = 1;
  l.key_label = "tenant";
  SetLimit(l);
  EnqueueN(5, Tenant("a"));
  EnqueueN(5, Tenant("b"));
  EnqueueN(5, Spec());  // no label: the "" value, a tenant of its own
  auto got = ClaimOk(15);
  ASSERT_EQ(got.size(), 3u);
  std::set<std::string> tenants;
  for (const auto& m : got) tenants.insert(TenantOf(m));
  EXPECT_EQ(tenants, (std::set<std::string>{"a", "b", ""}));
  FinishOk({Ok(got[0])});
  auto next = ClaimOk(15);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(TenantOf(next[0]), TenantOf(got[0]));
}

TEST_F(StoreLimitsTest, RateLimitIsATokenBucketOverTheBrokersClock) {
  auto l = Lim();
  l.rate = "10/s";  // bucket of max(1, 10 * 0.5) = 5
  EXPECT_EQ(SetLimit(l), "rate=10/s");
  EnqueueN(500, Spec());
  EXPECT_EQ(ClaimOk(100).size(), 5u) << "a full bucket";
  EXPECT_TRUE(ClaimOk(100).empty());
  clock_.Advance(99);
  EXPECT_TRUE(ClaimOk(100).empty()) << "a token every 100 ms";
  clock_.Advance(1);
  EXPECT_EQ(ClaimOk(100).size(), 1u);
  // 30 s of claims every 50 ms: rate * 30 s, plus at most the bucket.
  size_t total = 0;
  std::vector<int64_t> at;
  for (int i = 0; i < 600; ++i) {
    clock_.Advance(50);
    size_t n = ClaimOk(100).size();
    total += n;
    for (size_t k = 0; k < n; ++k) at.push_back(clock_.NowMs());
  }
  EXPECT_GE(total, 300u);
  EXPECT_LE(total, 305u);
  // No one-second window holds more than rate + bucket.
  for (size_t i = 0; i < at.size(); ++i) {
    auto end = std::upper_bound(at.begin(), at.end(), at[i] + 999);
    EXPECT_LE(end - (at.begin() + static_cast<ptrdiff_t>(i)), 15) << "window at " << at[i];
  }
}

TEST_F(StoreLimitsTest, RatePerLabelValueLeavesOtherValuesAlone) {
  auto l = Lim();
  l.rate = "2/m";  // bucket 1
  l.key_label = "tenant";
  SetLimit(l);
  EnqueueN(10, Tenant("a"));
  EnqueueN(10, Tenant("b"));
  auto got = ClaimOk(20);
  ASSERT_EQ(got.size(), 2u) << "one each: the held-back head of a does not hide b";
  EXPECT_NE(TenantOf(got[0]), TenantOf(got[1]));
  EXPECT_TRUE(ClaimOk(20).empty());
  clock_.Advance(30000);
  EXPECT_EQ(ClaimOk(20).size(), 2u);
}

TEST_F(StoreLimitsTest, CostRateStopsClaimingUntilTheWindowSlidesPast) {
  auto l = Lim();
  l.cost_rate = "usd=1/m";
  EXPECT_EQ(SetLimit(l), "cost-rate=usd=1/m");
  EnqueueN(10, Spec());
  auto pay = [&](const protocol::TaskMsg& m, double usd) {
    auto d = Ok(m);
    d.cost = {{"usd", usd}, {"cpu_s", 100.0}};
    FinishOk({d});
  };
  // The window slides in steps of 1/20 of it (3 s): a spend leaves it 57 to 60 s later.
  auto a = ClaimOk(1);
  ASSERT_EQ(a.size(), 1u);
  pay(a[0], 0.6);
  clock_.Advance(20000);
  auto b = ClaimOk(1);
  ASSERT_EQ(b.size(), 1u) << "0.6 spent of 1";
  pay(b[0], 0.6);
  clock_.Advance(1000);
  EXPECT_TRUE(ClaimOk(5).empty()) << "1.2 spent in the last minute";
  EXPECT_GT(StatsOf("default").stats.throttled, 0u);
  clock_.Advance(35000);  // 56 s after the first spend: still in the window
  EXPECT_TRUE(ClaimOk(5).empty());
  clock_.Advance(5000);  // 61 s after the first, 41 s after the second
  EXPECT_EQ(ClaimOk(5).size(), 5u) << "0.6 in the window: claiming resumes";
}

TEST_F(StoreLimitsTest, ClearRemovesEveryLimitAndLimitsOutliveTheStore) {
  auto l = Lim();
  l.concurrency = 1;
  l.rate = "100/h";
  EXPECT_EQ(SetLimit(l), "rate=100/h concurrency=1");
  EnqueueN(10, Spec());
  EXPECT_EQ(ClaimOk(10).size(), 1u);
  // Another store object on the same Redis (a restarted broker) still enforces it.
  store_ = std::make_unique<Store>(*conn_, clock_, store_->options());
  ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
  EXPECT_TRUE(ClaimOk(10).empty());
  EXPECT_EQ(StatsOf("default").stats.limit, "rate=100/h concurrency=1");
  auto c = Lim();
  c.clear = true;
  EXPECT_EQ(SetLimit(c), "");
  EXPECT_EQ(ClaimOk(10).size(), 9u);
  EXPECT_EQ(StatsOf("default").stats.limit, "");
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "lim:default", prefix_ + "limq"}), 0);
}

// A prio-0 task under a stream of prio-9 tasks (one enqueued and one claimed every 10 ms,
// over a standing backlog of 5): with aging of 100 ms it starts once it has waited 9 periods
// plus the time to drain the higher-priority work queued ahead of it; without, never.
TEST_F(StoreLimitsTest, AgingBoundsTheWaitOfALowPriorityTask) {
  constexpr int64_t kPeriod = 100, kStep = 10;
  constexpr int kBacklog = 5;
  auto run = [&](bool aging, const std::string& queue) -> int64_t {
    if (aging) {
      auto l = Lim(queue);
      l.aging = "100ms";
      EXPECT_EQ(SetLimit(l), "aging=100ms");
    }
    EnqueueN(kBacklog, Spec("echo", 9, queue));
    std::string low = EnqueueOne(Spec("echo", 0, queue));
    int64_t start = clock_.NowMs();
    for (int i = 0; i < 400; ++i) {
      clock_.Advance(kStep);
      EnqueueOne(Spec("echo", 9, queue));
      auto got = ClaimOk(1, {queue});
      if (!got.empty() && got[0].task_id == low) return clock_.NowMs() - start;
    }
    return -1;
  };
  int64_t waited = run(true, "aged");
  ASSERT_GT(waited, 0) << "the low-priority task never started";
  EXPECT_GE(waited, 9 * kPeriod);
  EXPECT_LE(waited, 9 * kPeriod + (kBacklog + 2) * kStep);
  std::cout << "AGING_BOUND period_ms=" << kPeriod << " prio_steps=9 backlog=" << kBacklog
            << " waited_ms=" << waited << " bound_ms=" << 9 * kPeriod + (kBacklog + 2) * kStep
            << std::endl;
  EXPECT_EQ(run(false, "plain"), -1) << "without aging it starves";
}

TEST_F(StoreLimitsTest, SettingAgingRescoresTheReadyTasksByTheirWait) {
  std::string low = EnqueueOne(Spec("echo", 0));
  clock_.Advance(1000);
  std::string high = EnqueueOne(Spec("echo", 5));
  auto l = Lim();
  l.aging = "100ms";  // low waited 10 periods more: 5 steps of priority are made up
  SetLimit(l);
  auto got = ClaimOk(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].task_id, low);
  EXPECT_EQ(got[1].task_id, high);
}

// Two tenants submitting 100:1, tenant a first: with round robin they take turns while both
// have work; without it b waits behind all of a.
TEST_F(StoreLimitsTest, RoundRobinGivesLabelValuesEqualTurns) {
  auto share = [&](bool rr, const std::string& queue) {
    if (rr) {
      auto l = Lim(queue);
      l.key_label = "tenant";
      l.round_robin = true;
      EXPECT_EQ(SetLimit(l), "key=tenant round-robin");
    }
    auto a = Tenant("a");
    a.queue = queue;
    auto b = Tenant("b");
    b.queue = queue;
    EnqueueN(1000, a);
    EnqueueN(10, b);
    std::map<std::string, int> n;
    for (int i = 0; i < 20; ++i) {
      for (const auto& m : ClaimOk(1, {queue})) ++n[TenantOf(m)];
    }
    return n;
  };
  auto with = share(true, "fair");
  std::cout << "ROUND_ROBIN with a=" << with["a"] << " b=" << with["b"];
  EXPECT_LE(std::abs(with["a"] - with["b"]), 2) << "equal within 10%";
  auto without = share(false, "unfair");
  std::cout << " without a=" << without["a"] << " b=" << without["b"] << std::endl;
  EXPECT_EQ(without["b"], 0);
}

}  // namespace
}  // namespace taskmill::broker
