// Issue 16 through real processes: a SUBMIT or BATCH of a task type no connected worker
// serves is accepted with a warning in its REPLY, and STATS breaks ready tasks down by type.

#include "flow_helpers.h"
#include "support/launch.h"

namespace taskmill::testing {
namespace {

std::string Unserved(const std::string& type, const std::string& queue) {
  return "no connected worker serves type '" + type + "' in queue '" + queue +
         "'; its tasks wait until one does";
}

Result<protocol::Reply> SubmitSpecs(WireClient& c, std::vector<protocol::TaskSpec> specs) {
  protocol::Submit s;
  s.tasks = std::move(specs);
  return c.Call(s);
}

TEST(SubmitWarningsTest, UnservedTypesAreWarnedAboutAndStatsShowReadyByType) {
  auto started = Cluster::Start({});
  ASSERT_TRUE(started.has_value()) << started.error().message;
  auto& cluster = **started;
  WireClient& c = cluster.client();
  // No worker at all: even echo is unserved, and the task is stored all the same.
  auto r = SubmitSpecs(c, {Spec("echo", "{}")});
  ASSERT_TRUE(r && !r->error);
  ASSERT_EQ(r->ids.size(), 1u);
  EXPECT_EQ(r->warnings, std::vector<std::string>{Unserved("echo", "default")});
  std::string first = r->ids[0];

  ASSERT_TRUE(cluster.StartWorker("w1", 2));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = c.Call(protocol::Stats{}, 2000);
        return s && !s->error && s->workers.size() == 1;
      },
      15000))
      << cluster.Logs();
  r = SubmitSpecs(c, {Spec("echo", "{}"), Spec("nosuch", "{}"), Spec("nosuch", "{}"),
                      Spec("echo", "{}", "elsewhere")});
  ASSERT_TRUE(r && !r->error);
  EXPECT_EQ(r->ids.size(), 4u);
  EXPECT_EQ(r->warnings, (std::vector<std::string>{Unserved("nosuch", "default"),
                                                   Unserved("echo", "elsewhere")}));
  r = SubmitSpecs(c, {Spec("echo", "{}")});
  ASSERT_TRUE(r && !r->error);
  EXPECT_TRUE(r->warnings.empty()) << r->warnings.at(0);
  protocol::Batch b;
  b.batch.tasks = {Spec("nosuch", "{}", "q2")};
  b.batch.tasks[0].name = "a";
  auto batch = c.Call(b);
  ASSERT_TRUE(batch && !batch->error);
  EXPECT_EQ(batch->warnings, std::vector<std::string>{Unserved("nosuch", "q2")});
  // The echo submitted before any worker ran once one came.
  EXPECT_EQ(WaitAll(c, {first}).at(0).state, protocol::TaskState::kSucceeded);

  // STATS: the two nosuch tasks wait in default, by type.
  protocol::Stats st;
  st.queues = {"default", "q2"};
  auto stats = c.Call(st);
  ASSERT_TRUE(stats && !stats->error);
  ASSERT_EQ(stats->queues.size(), 2u);
  EXPECT_EQ(stats->queues[0].ready_by_type, (std::map<std::string, uint32_t>{{"nosuch", 2}}));
  EXPECT_EQ(stats->queues[1].ready_by_type, (std::map<std::string, uint32_t>{{"nosuch", 1}}));
  EXPECT_EQ(stats->queues[0].more_types, 0u);
}

}  // namespace
}  // namespace taskmill::testing
