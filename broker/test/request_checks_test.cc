// The edge checks of service/request_checks.h: every request refused alone, before it can
// join (and fail) a turn's combined store call, with the field and the limit named.

#include "service/request_checks.h"
#include "store/task_store.h"

#include <gtest/gtest.h>

#include <cmath>

namespace taskmill::broker {
namespace {

protocol::TaskSpec Echo(std::string name = "") {
  protocol::TaskSpec t;
  t.type = "echo";
  t.name = std::move(name);
  t.payload = "p";
  return t;
}

TEST(RequestChecksTest, SubmitRefusesWhatTheStoreWouldRefuse) {
  BrokerOptions o;
  protocol::Submit s;
  s.tasks = {Echo(), Echo()};
  EXPECT_TRUE(CheckSubmit(s, o));
  // The attack: a label key "" (refused by the store, for the whole turn).
  s.tasks[1].labels[""] = "x";
  auto r = CheckSubmit(s, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message,
            "tasks[1].labels: a key of 0 bytes is out of range (allowed: 1..256 bytes)");
  // A parent id that is not a valid id (also refused by the store only, before).
  s.tasks[1].labels.clear();
  s.tasks[1].depends_on = {"a:b"};
  r = CheckSubmit(s, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "tasks[1].depends_on[0]: 'a:b' may contain only letters, digits, '_', '.' and '-'");
}

TEST(RequestChecksTest, LabelsCountAgainstThePayloadCap) {
  BrokerOptions o;
  o.max_payload_bytes = 1000;
  protocol::Submit s;
  s.tasks = {Echo()};
  s.tasks[0].payload.assign(900, 'x');
  s.tasks[0].labels["k"] = std::string(99, 'v');  // 900 + 100 = 1000: at the cap
  EXPECT_TRUE(CheckSubmit(s, o));
  s.tasks[0].labels["k"] = std::string(100, 'v');
  auto r = CheckSubmit(s, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "tasks[0].labels: 101 bytes with a payload of 900 bytes is over the limit of 1000 "
            "(payload and labels count together)");
  o.max_payload_bytes = 1 << 20;
  o.max_label_bytes = 64;
  r = CheckSubmit(s, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "tasks[0].labels: 101 bytes (keys and values) is over the limit of 64");
}

TEST(RequestChecksTest, BatchLabelsAreCheckedBeforeTheyAreCopied) {
  BrokerOptions o;
  protocol::BatchSpec b;
  b.tasks = {Echo("a"), Echo("b")};
  b.labels[""] = "x";
  auto r = CheckBatch(b, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "batch.labels: a key of 0 bytes is out of range (allowed: 1..256 bytes)");
  EXPECT_TRUE(b.tasks[0].labels.empty()) << "copied before the check";
  // Merged on success; a task's own label wins.
  b.labels = {{"team", "x"}, {"env", "prod"}};
  b.tasks[1].labels["team"] = "own";
  ASSERT_TRUE(CheckBatch(b, o));
  EXPECT_EQ(b.tasks[0].labels.at("team"), "x");
  EXPECT_EQ(b.tasks[1].labels.at("team"), "own");
  EXPECT_EQ(b.tasks[1].labels.at("env"), "prod");
}

TEST(RequestChecksTest, CopiedBatchLabelsCountForEveryTask) {
  BrokerOptions o;
  o.max_frame_bytes = 100'000;
  protocol::BatchSpec b;
  for (int i = 0; i < 100; ++i) b.tasks.push_back(Echo("t" + std::to_string(i)));
  b.labels["big"] = std::string(1000, 'x');  // 100 tasks x ~1 KB > 100,000
  auto r = CheckBatch(b, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "batch: its tasks would store 100400 bytes of payload and labels (batch labels "
            "once per task), over the limit of 100000 per request (--max-frame-bytes)");
  // Each task's own payload + merged labels also meets the payload cap.
  o.max_frame_bytes = 1 << 24;
  o.max_payload_bytes = 1000;
  b.tasks.resize(1);
  b.labels["big"] = std::string(1000, 'x');
  r = CheckBatch(b, o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("batch.tasks[0].labels: 1003 bytes with a payload of 1 bytes"),
            std::string::npos)
      << r.error().message;
}

TEST(RequestChecksTest, BatchEdgesAndBudgetsAreCapped) {
  BrokerOptions o;
  o.max_batch_edges = 2;
  protocol::BatchSpec b;
  b.tasks = {Echo("a"), Echo("b"), Echo("c")};
  b.tasks[1].depends_on = {"a"};
  b.tasks[2].depends_on = {"a", "b"};
  auto r = CheckBatch(b, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "batch.tasks: 3 dependency edges is over the limit of 2 (--max-batch-edges)");
  o.max_batch_edges = 3;
  EXPECT_TRUE(CheckBatch(b, o));
  // NaN passed `limit <= 0` and disabled the budget.
  b.budget["usd"] = std::nan("");
  r = CheckBatch(b, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "batch.budget.usd: nan is out of range (allowed: greater than 0, at most 1e15)");
  b.budget["usd"] = 1e300;
  EXPECT_FALSE(CheckBatch(b, o));
}

TEST(RequestChecksTest, ReadyCaps) {
  BrokerOptions o;
  o.max_worker_claim_keys = 100;
  o.max_workers = 2;
  o.max_label_bytes = 1000;
  protocol::Ready ready;
  ready.worker_id = "w1";
  ready.queues = {"a", "b"};
  ready.concurrency = 2;
  EXPECT_TRUE(CheckReady(ready, o, 0, false));
  // queues x types: the claim cost.
  for (int i = 0; i < 51; ++i) ready.types.push_back("t" + std::to_string(i));
  auto r = CheckReady(ready, o, 0, false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "queues x types: 2 x 51 = 102 is over the limit of 100 (--max-worker-claim-keys)");
  ready.types.resize(50);
  EXPECT_TRUE(CheckReady(ready, o, 0, false));
  // Labels: count, key size, bytes.
  for (int i = 0; i < 65; ++i) ready.labels["l" + std::to_string(i)] = "v";
  r = CheckReady(ready, o, 0, false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "labels: 65 labels is over the limit of 64");
  ready.labels = {{"big", std::string(1000, 'x')}};
  r = CheckReady(ready, o, 0, false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "labels: 1003 bytes (keys and values) is over the limit of 1000");
  ready.labels.clear();
  // --max-workers: a new worker past it is refused, a re-registration is not.
  r = CheckReady(ready, o, 2, false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "workers: 2 are registered, the limit (--max-workers)");
  EXPECT_TRUE(CheckReady(ready, o, 2, true));
  // running is cut to concurrency.
  ready.running = {"t1", "t2", "t3", "t4", "t5"};
  auto dropped = CheckReady(ready, o, 0, false);
  ASSERT_TRUE(dropped);
  EXPECT_EQ(*dropped, 3u);
  EXPECT_EQ(ready.running, (std::vector<std::string>{"t1", "t2"}));
}

TEST(RequestChecksTest, StoreErrorsAreTheStoresOwn) {
  EXPECT_TRUE(IsStoreError(ErrorCode::kStoreUnavailable));
  EXPECT_TRUE(IsStoreError(ErrorCode::kStoreFull));
  EXPECT_FALSE(IsStoreError(ErrorCode::kInvalidArgument));
  EXPECT_FALSE(IsStoreError(ErrorCode::kInternal));
}

}  // namespace
}  // namespace taskmill::broker
