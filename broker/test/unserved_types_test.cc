// The unserved-type warnings of a SUBMIT or BATCH reply, from the worker registry alone.

#include "service/unserved_types.h"

#include <gtest/gtest.h>

namespace taskmill::broker {
namespace {

protocol::TaskSpec Task(const std::string& type, const std::string& queue = "default") {
  protocol::TaskSpec t;
  t.type = type;
  t.queue = queue;
  return t;
}

protocol::Ready Ready(const std::string& id, std::vector<std::string> queues,
                      std::vector<std::string> types) {
  protocol::Ready r;
  r.worker_id = id;
  r.queues = std::move(queues);
  r.types = std::move(types);
  return r;
}

TEST(UnservedTypesTest, WarnsOncePerUnservedQueueAndType) {
  WorkerRegistry workers;
  workers.Register("i1", Ready("w1", {"default"}, {"echo"}), 0);
  EXPECT_TRUE(UnservedTypeWarnings(workers, {Task("echo"), Task("echo")}).empty());
  auto w = UnservedTypeWarnings(workers, {Task("resize"), Task("echo"), Task("resize"),
                                          Task("echo", "images")});
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0], "no connected worker serves type 'resize' in queue 'default'; its tasks "
                  "wait until one does");
  EXPECT_EQ(w[1], "no connected worker serves type 'echo' in queue 'images'; its tasks wait "
                  "until one does");
}

TEST(UnservedTypesTest, AWorkerOfNoListedTypesServesEveryType) {
  WorkerRegistry workers;
  workers.Register("i1", Ready("w1", {"images"}, {}), 0);
  EXPECT_TRUE(UnservedTypeWarnings(workers, {Task("anything", "images")}).empty());
  EXPECT_EQ(UnservedTypeWarnings(workers, {Task("anything")}).size(), 1u);
}

TEST(UnservedTypesTest, FollowsWorkersComingAndGoing) {
  WorkerRegistry workers;
  EXPECT_EQ(UnservedTypeWarnings(workers, {Task("echo")}).size(), 1u) << "no worker at all";
  workers.Register("i1", Ready("w1", {"default"}, {"echo"}), 0);
  EXPECT_TRUE(UnservedTypeWarnings(workers, {Task("echo")}).empty());
  // Re-registered with other types: the old ones are no longer served.
  workers.Register("i1", Ready("w1", {"default"}, {"sleep"}), 0);
  EXPECT_EQ(UnservedTypeWarnings(workers, {Task("echo")}).size(), 1u);
  EXPECT_TRUE(UnservedTypeWarnings(workers, {Task("sleep")}).empty());
  workers.Remove("i1");
  EXPECT_EQ(UnservedTypeWarnings(workers, {Task("sleep")}).size(), 1u);
}

TEST(UnservedTypesTest, BoundedWithACountOfTheRest) {
  WorkerRegistry workers;
  std::vector<protocol::TaskSpec> tasks;
  for (int i = 0; i < 10; ++i) tasks.push_back(Task("t" + std::to_string(i)));
  auto w = UnservedTypeWarnings(workers, tasks);
  ASSERT_EQ(w.size(), kMaxUnservedWarnings + 1);
  EXPECT_EQ(w.back(), "and 7 more task types that no connected worker serves");
}

}  // namespace
}  // namespace taskmill::broker
