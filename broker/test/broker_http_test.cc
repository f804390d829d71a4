// The broker's HTTP handlers and metrics page without a listener or Redis: fake clock,
// hand-made snapshots.

#include <gtest/gtest.h>

#include "http/broker_http.h"
#include "metrics/metrics_page.h"
#include "taskmill/shared/clock.h"

namespace taskmill::broker {
namespace {

class BrokerHttpTest : public ::testing::Test {
 protected:
  FakeClock clock_{1'000'000};
  ReactorBoard board_;
  BrokerMetrics metrics_{"host:1"};
  // Never connected in these tests: /readyz fails before it would PING.
  StoreReader reader_{[] {
                        RedisConfig c;
                        c.host = "127.0.0.1";
                        c.port = 1;
                        return c;
                      }(),
                      "tm:"};
  BrokerHttp http_{board_, metrics_, reader_, clock_};
};

TEST_F(BrokerHttpTest, HealthzFollowsTheReactorsLastTurn) {
  board_.MarkTurn(clock_.MonotonicMs());
  EXPECT_EQ(http_.Healthz().status, 200);
  clock_.Advance(kHealthyTurnAgeMs);
  EXPECT_EQ(http_.Healthz().status, 200);
  clock_.Advance(1);
  auto r = http_.Healthz();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "unhealthy: the reactor has not turned for 5001 ms\n");
  board_.MarkTurn(clock_.MonotonicMs());
  EXPECT_EQ(http_.Healthz().status, 200);
}

TEST_F(BrokerHttpTest, ReadyzSaysWhyNot) {
  EXPECT_EQ(http_.Readyz().status, 503);
  EXPECT_EQ(http_.Readyz().body, "not ready: starting\n");
  ReactorSnapshot s;
  s.redis_ready = false;
  s.redis_error = "connection refused";
  board_.Publish(s);
  EXPECT_EQ(http_.Readyz().body,
            "not ready: redis unavailable or scripts not loaded: connection refused\n");
  s.redis_ready = true;
  s.draining = true;
  board_.Publish(s);
  EXPECT_EQ(http_.Readyz().status, 503);
  EXPECT_EQ(http_.Readyz().body, "not ready: draining\n");
  // Ready as far as the reactor knows, but our own PING finds no Redis on port 1.
  s.draining = false;
  board_.Publish(s);
  auto r = http_.Readyz();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body.rfind("not ready: redis: ", 0), 0u) << r.body;
}

TEST(MetricsPageTest, CostNamesPastTheCapAddUpAsOther) {
  QueueCounters q;
  q.stats.queue = "q";
  for (size_t i = 0; i < kMaxCostNamesPerQueue + 3; ++i) {
    q.stats.cost["c" + std::string(i < 10 ? "0" : "") + std::to_string(i)] = 1.5;
  }
  std::string page = RenderMetricsPage("b", {}, 0, std::vector<QueueCounters>{q}, {});
  size_t named = 0;
  for (size_t at = page.find("taskmill_cost_total{"); at != std::string::npos;
       at = page.find("taskmill_cost_total{", at + 1)) {
    ++named;
  }
  EXPECT_EQ(named, kMaxCostNamesPerQueue + 1);
  EXPECT_NE(page.find("taskmill_cost_total{queue=\"q\",name=\"other\"} 4.5\n"), std::string::npos)
      << page;
  EXPECT_NE(page.find("taskmill_cost_total{queue=\"q\",name=\"c00\"} 1.5\n"), std::string::npos);
  EXPECT_NE(page.find("taskmill_queue_backlog{queue=\"q\"} 0\n"), std::string::npos);
  EXPECT_NE(page.find("taskmill_broker_store_readable{broker=\"b\"} 1\n"), std::string::npos);
}

TEST(MetricsPageTest, AnUnreadableStoreLeavesOutTheQueueSeries) {
  Result<std::vector<QueueCounters>> failed =
      MakeError(ErrorCode::kStoreUnavailable, "redis: connection refused");
  std::string page = RenderMetricsPage("b", {}, 0, failed, {});
  EXPECT_EQ(page.find("taskmill_queue_backlog{"), std::string::npos);
  EXPECT_NE(page.find("taskmill_broker_store_readable{broker=\"b\"} 0\n"), std::string::npos);
}

TEST(BrokerMetricsTest, QueuesPastTheCapShareOneSeries) {
  BrokerMetrics m("b");
  for (size_t i = 0; i < BrokerMetrics::kMaxQueueSeries + 10; ++i) {
    m.TaskRan("q" + std::to_string(i), 5);
  }
  size_t series = 0;
  double other = 0;
  for (const auto& f : m.Collect()) {
    if (f.name != "taskmill_task_run_seconds") continue;
    series = f.metric.size();
    for (const auto& metric : f.metric) {
      for (const auto& l : metric.label) {
        if (l.name == "queue" && l.value == "other") {
          other = static_cast<double>(metric.histogram.sample_count);
        }
      }
    }
  }
  EXPECT_EQ(series, BrokerMetrics::kMaxQueueSeries + 1);
  EXPECT_EQ(other, 10);
}

TEST(HttpAddressTest, ParsesHostPortAndOff) {
  auto off = ParseHttpAddress("off", "--http");
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->has_value());
  auto v4 = ParseHttpAddress("127.0.0.1:0", "--http");
  ASSERT_TRUE(v4 && *v4);
  EXPECT_EQ((*v4)->host, "127.0.0.1");
  EXPECT_EQ((*v4)->port, 0);
  auto v6 = ParseHttpAddress("[::1]:9464", "--http");
  ASSERT_TRUE(v6 && *v6);
  EXPECT_EQ((*v6)->host, "::1");
  EXPECT_EQ((*v6)->ToString(), "[::1]:9464");
  for (const char* bad : {"", "9464", ":9464", "host:", "host:65536", "host:12x", "::1:9464",
                          "[::1]9464"}) {
    auto r = ParseHttpAddress(bad, "--http");
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("--http"), std::string::npos);
  }
}

}  // namespace
}  // namespace taskmill::broker
