// ClientQuotas (per client and total WAIT / subscription quotas), WaitTable::TakeIdentity and
// WorkerRegistry::DescribePage: the bookkeeping behind issue 13's quotas and STATS pages.

#include <gtest/gtest.h>

#include "dispatch/worker_registry.h"
#include "service/quotas.h"
#include "service/wait_table.h"

namespace taskmill::broker {
namespace {

// With CURVE a client is its key: more connections get it no more WAITs, and a WAIT is
// released against the key it was admitted for even after its connection is forgotten.
TEST(ClientQuotasTest, OneKeyOverSeveralConnectionsSharesOneQuota) {
  QuotaLimits limits;
  limits.waits_per_client = 3;
  ClientQuotas q(limits);
  for (const char* conn : {"c1", "c2", "c3", "c4"}) q.SeenConnection(conn, "KEY-A");
  q.SeenConnection("d1", "KEY-B");
  EXPECT_TRUE(q.AdmitWait("c1", 1));
  EXPECT_TRUE(q.AdmitWait("c2", 1));
  EXPECT_TRUE(q.AdmitWait("c3", 1));
  auto fourth = q.AdmitWait("c4", 1);
  ASSERT_FALSE(fourth);
  EXPECT_NE(fourth.error().message.find("already has 3 WAITs pending"), std::string::npos);
  EXPECT_TRUE(q.AdmitWait("d1", 1));  // another key gets in
  EXPECT_EQ(q.ConnectionsLike("c2").size(), 4u);
  EXPECT_EQ(q.ConnectionsLike("d1"), std::vector<std::string>{"d1"});
  // Without CURVE a connection is its own client.
  EXPECT_EQ(q.ConnectionsLike("plain"), std::vector<std::string>{"plain"});
  EXPECT_TRUE(q.AdmitWait("plain", 1));
  // c1 goes away with its WAIT still being read: the release still finds KEY-A.
  q.ForgetConnection("c1");
  EXPECT_EQ(q.ConnectionsLike("c2").size(), 3u);
  q.ReleaseWait("c1", 1);
  EXPECT_TRUE(q.AdmitWait("c4", 1));
  for (const char* conn : {"c2", "c3", "c4", "d1", "plain"}) q.ReleaseWait(conn, 1);
  EXPECT_EQ(q.waits(), 0u);
  EXPECT_EQ(q.wait_ids(), 0u);
}

TEST(ClientQuotasTest, AClientPastItsWaitQuotaIsRefusedByNameAndOthersAreNot) {
  QuotaLimits limits;
  limits.waits_per_client = 2;
  limits.wait_ids_per_client = 100;
  limits.wait_ids_total = 150;
  ClientQuotas q(limits);
  EXPECT_TRUE(q.AdmitWait("a", 50));
  EXPECT_TRUE(q.AdmitWait("a", 50));
  auto third = q.AdmitWait("a", 1);
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code, ErrorCode::kOverLimit);
  EXPECT_EQ(third.error().message,
            "quota: this client already has 2 WAITs pending, the limit per client is 2; "
            "retry when some are answered");
  // Another client is judged on its own count, then on the total (100 of 150 held).
  EXPECT_TRUE(q.AdmitWait("b", 50));
  auto total = q.AdmitWait("c", 1);
  ASSERT_FALSE(total);
  EXPECT_NE(total.error().message.find("the broker holds 3 WAITs of 150 task ids"),
            std::string::npos);
  EXPECT_EQ(q.refusals(), 2u);
  // Released: room again, and the counts return to zero.
  q.ReleaseWait("a", 50);
  EXPECT_TRUE(q.AdmitWait("c", 1));
  q.ReleaseWait("a", 50);
  q.ReleaseWait("b", 50);
  q.ReleaseWait("c", 1);
  EXPECT_EQ(q.waits(), 0u);
  EXPECT_EQ(q.wait_ids(), 0u);
}

TEST(ClientQuotasTest, SubscriptionsAreJudgedPerClientAndOnWatchedTasks) {
  QuotaLimits limits;
  limits.subscriptions_per_client = 1;
  limits.watched_tasks_total = 1000;
  ClientQuotas q(limits);
  EXPECT_TRUE(q.AdmitSubscription(0, 0, 0, 1000));
  EXPECT_FALSE(q.AdmitSubscription(1, 1, 0, 1));
  EXPECT_FALSE(q.AdmitSubscription(0, 1, 1000, 1));
}

TEST(WaitTableTest, TakeIdentityRemovesEveryWaiterOfThatClientOnly) {
  WaitTable t;
  t.Add({"gone", 1, {"t1", "t2"}, {"t1", "t2"}, 100, ""});
  t.Add({"gone", 2, {"t2"}, {"t2"}, 200, ""});
  t.Add({"stays", 3, {"t2"}, {"t2"}, 300, ""});
  auto taken = t.TakeIdentity("gone");
  EXPECT_EQ(taken.size(), 2u);
  EXPECT_EQ(t.size(), 1u);
  // Its ids no longer index anything: t2 ends only the remaining waiter.
  auto done = t.OnTerminal("t2");
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].identity, "stays");
  EXPECT_TRUE(t.OnTerminal("t1").empty());
}

TEST(WorkerRegistryTest, DescribePageGoesByIdAfterTheCursorAndCapsLabels) {
  WorkerRegistry r;
  for (const char* id : {"w3", "w1", "w2"}) {
    protocol::Ready ready;
    ready.worker_id = id;
    ready.labels = {{"a", std::string(10, 'x')}, {"b", std::string(10, 'y')}};
    r.Register(std::string("ident-") + id, ready, 0);
  }
  bool more = false;
  auto page = r.DescribePage("", 2, 15, more);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].id, "w1");
  EXPECT_EQ(page[1].id, "w2");
  EXPECT_TRUE(more);
  EXPECT_EQ(page[0].labels.size(), 1u);  // 11 bytes fit in 15, the second label does not
  page = r.DescribePage("w2", 2, 1000, more);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].id, "w3");
  EXPECT_FALSE(more);
  EXPECT_EQ(page[0].labels.size(), 2u);
}

}  // namespace
}  // namespace taskmill::broker
