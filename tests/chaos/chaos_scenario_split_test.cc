// Scale-out scenarios (issue 17): several brokers on one Redis, one of them cut off from it.
// `broker-redis-cut`: broker B reaches Redis through a TCP proxy; two of the three workers
// are on B and hold tasks when the proxy turns into a black hole. Broker A and its worker
// carry on: A's reaper re-queues the leases B can no longer extend, A's worker re-runs them,
// and when the proxy heals B's late DONEs are fenced off. Checker clean (lost 0, no double
// costs, results of the live attempts); CHAOS_ROW like the other scenarios.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iostream>

#include "chaos/harness.h"
#include "chaos/tcp_proxy.h"

namespace taskmill::chaos {
namespace {

using taskmill::testing::ChildProcess;

// A loopback TCP port free a moment ago (the kernel's pick for port 0).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  if (fd >= 0) close(fd);
  return port;
}

TEST(ChaosSplitTest, BrokerCutOffFromRedisWhileTheOthersCarryOn) {
  const std::string scenario = "broker-redis-cut";
  Scale scale = Scale::FromEnv();
  ChaosCluster::Options o;
  o.redis_tcp_port = FreePort();
  ASSERT_NE(o.redis_tcp_port, 0);
  auto c = ChaosCluster::Start(scenario, o);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  ChaosCluster& cluster = **c;
  auto proxy = TcpProxy::Start(static_cast<uint16_t>(o.redis_tcp_port));
  ASSERT_TRUE(proxy.has_value()) << proxy.error().message;
  ChildProcess broker_b;
  auto b = cluster.StartExtraBroker("b", broker_b, {"--broker-id", "B"},
                                    "redis://127.0.0.1:" + std::to_string((*proxy)->port()));
  ASSERT_TRUE(b.has_value()) << b.error().message;
  // w0 and w1 on B (cut off with it), w2 on A (the cluster's own broker).
  ASSERT_TRUE(cluster.StartWorker("w0", 2, b->backend));
  ASSERT_TRUE(cluster.StartWorker("w1", 2, b->backend));
  ASSERT_TRUE(cluster.StartWorker("w2", 2));

  // Long runs and a load A's worker alone cannot absorb, so B's workers hold tasks.
  scale.task_ms = 1000;
  LoadClient load(cluster.frontend(), cluster.queue(), cluster.TaskPayload(scale.task_ms),
                  scenario);
  load.Start(scale.load_ms + 2000, 200);
  // Cut once B's workers hold tasks (STATS through B: its own workers, live).
  taskmill::testing::WireClient probe_b(b->frontend);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = probe_b.Call(protocol::Stats{}, 2000);
        if (!r || r->error) return false;
        uint32_t held = 0;
        for (const auto& w : r->workers) {
          if (w.broker == "B") held += w.in_flight;
        }
        return held >= 2;
      },
      20000))
      << "B's workers never held tasks\n" << cluster.Logs();
  int64_t fault = NowMs();
  (*proxy)->Cut();
  // Healed once A's worker has re-run a task that B's workers held (or after 4 leases).
  WaitFor(
      [&] {
        for (const auto& e : cluster.Executions()) {
          if (e.attempt >= 2 && e.worker == "w2" && e.start_ms >= fault) return true;
        }
        return false;
      },
      4 * 2000);
  int64_t cut_ms = NowMs() - fault;
  (*proxy)->Heal();
  load.Join();
  auto r = Settle(cluster, load.submissions(), fault, scale.settle_ms);
  std::cout << r.Row(scenario) << std::endl;
  std::cout << "broker-redis-cut: cut for " << cut_ms << " ms; " << r.Summary() << std::endl;
  EXPECT_TRUE(r.Clean()) << r.Summary();
  EXPECT_GT(r.succeeded, 0u);
  EXPECT_GE(r.detection_ms, 0) << "nothing B's workers held was re-run through A";
  // Re-runs: the tasks B's workers held at the cut (at most their 4 slots), plus those B had
  // claimed just before it whose replies the black hole kept: reaped and re-run through A,
  // then dispatched by B after the heal (their DONEs fenced off) - at most 4 more.
  EXPECT_LE(r.duplicate_executions, 8u) << "re-runs beyond B's slots held and claimed";
  broker_b.Kill9();
  if (HasFailure()) {
    std::cerr << cluster.Logs() << "--- broker B\n"
              << taskmill::testing::ReadFile(cluster.dir() + "/b/broker.log");
  }
}

}  // namespace
}  // namespace taskmill::chaos
