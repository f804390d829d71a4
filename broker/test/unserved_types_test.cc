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

TEST(UnservedTypesTest, AWorkerOfAnotherBrokerServesToo) {
  WorkerRegistry workers;  // no worker on this broker
  protocol::WorkerInfo other;
  other.id = "wc";
  other.queues = {"default"};
  other.types = {"echo"};
  std::vector<std::string> asked;
  ServedElsewhere elsewhere = [&](const std::string& queue, const std::string& type) {
    asked.push_back(queue + "/" + type);
    return WorkerServes(other, queue, type);
  };
  EXPECT_TRUE(UnservedTypeWarnings(workers, {Task("echo"), Task("echo")}, elsewhere).empty());
  auto w = UnservedTypeWarnings(workers, {Task("resize")}, elsewhere);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("'resize'"), std::string::npos);
  // A pair a local worker serves is never asked about.
  workers.Register("i1", Ready("w1", {"images"}, {}), 0);
  asked.clear();
  EXPECT_TRUE(UnservedTypeWarnings(workers, {Task("anything", "images")}, elsewhere).empty());
  EXPECT_TRUE(asked.empty());
}

TEST(UnservedTypesTest, WorkerServesFollowsTheQueueAndTypeRule) {
  protocol::WorkerInfo w;
  w.queues = {"images"};
  EXPECT_TRUE(WorkerServes(w, "images", "anything")) << "no types: every type";
  EXPECT_FALSE(WorkerServes(w, "default", "anything"));
  w.types = {"resize"};
  EXPECT_TRUE(WorkerServes(w, "images", "resize"));
  EXPECT_FALSE(WorkerServes(w, "images", "crop"));
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
