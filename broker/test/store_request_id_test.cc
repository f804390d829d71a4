// Request ids (enqueue.lua, reqs): a SUBMIT or BATCH resent after a lost reply stores nothing
// again and is answered with what the first call stored.

#include <set>

#include "store_test_util.h"

namespace taskmill::broker {
namespace {

class StoreRequestIdTest : public StoreTest {
 protected:
  Result<EnqueueResult> Submit(std::vector<protocol::TaskSpec> specs,
                               std::vector<RequestKey> requests,
                               std::vector<std::string> owners = {}) {
    return Await<EnqueueResult>(
        [&](auto cb) { store_->Enqueue(std::move(specs), cb, owners, requests); });
  }
  Result<EnqueueResult> Batch(std::string batch_id, RequestKey request, std::string owner = "") {
    auto a = Spec();
    a.name = "a";
    auto b = Spec();
    b.name = "b";
    return Await<EnqueueResult>([&](auto cb) {
      store_->EnqueueBatch(std::move(batch_id), {}, {a, b}, cb, std::move(owner),
                           std::move(request));
    });
  }
  static RequestKey Key(std::string id, std::string digest, size_t first, size_t count) {
    return RequestKey{std::move(id), std::move(digest), first, count};
  }
};

TEST_F(StoreRequestIdTest, AResendStoresNothingAndReturnsTheFirstIds) {
  auto first = Submit({Spec(), Spec()}, {Key("rid-1", "d1", 0, 2)});
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  ASSERT_EQ(first->items.size(), 2u);
  EXPECT_FALSE(first->items[0].duplicate);
  // The resend gets fresh ids from the broker, as a resend through another broker would.
  auto again = Submit({Spec(), Spec()}, {Key("rid-1", "d1", 0, 2)});
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  ASSERT_EQ(again->items.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(again->items[i].replayed);
    EXPECT_TRUE(again->items[i].duplicate);
    EXPECT_FALSE(again->items[i].error);
    EXPECT_EQ(again->items[i].id, first->items[i].id);
    EXPECT_EQ(again->items[i].state, protocol::TaskState::kQueued);
  }
  EXPECT_EQ(StatsOf("default").stats.submitted, 2u);
  EXPECT_EQ(ClaimOk(10).size(), 2u);
  // Kept as long as an idempotency key.
  int64_t ttl = RawInt({"PTTL", prefix_ + "rq:rid-1"});
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, store_->options().idempotency_ttl_ms);
}

TEST_F(StoreRequestIdTest, WithoutARequestIdASecondSubmitStoresAgain) {
  EnqueueOk({Spec()});
  EnqueueOk({Spec()});
  EXPECT_EQ(StatsOf("default").stats.submitted, 2u);
}

TEST_F(StoreRequestIdTest, TheSameRequestTwiceInOneCallIsStoredOnce) {
  // A resend that arrives in the same reactor turn as the first: one combined call.
  auto r = Submit({Spec(), Spec(), Spec()},
                  {Key("rid-2", "d", 0, 1), Key("other", "d", 1, 1), Key("rid-2", "d", 2, 1)});
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_EQ(r->items.size(), 3u);
  EXPECT_FALSE(r->items[0].duplicate);
  EXPECT_FALSE(r->items[1].duplicate);
  EXPECT_TRUE(r->items[2].replayed);
  EXPECT_EQ(r->items[2].id, r->items[0].id);
  EXPECT_EQ(StatsOf("default").stats.submitted, 2u);
}

TEST_F(StoreRequestIdTest, ARequestIdReusedForAnotherBodyIsAConflict) {
  auto first = Submit({Spec()}, {Key("rid-3", "body-a", 0, 1)});
  ASSERT_TRUE(first.has_value());
  auto other = Submit({Spec("other")}, {Key("rid-3", "body-b", 0, 1)});
  ASSERT_TRUE(other.has_value()) << other.error().ToString();
  ASSERT_EQ(other->items.size(), 1u);
  ASSERT_TRUE(other->items[0].error);
  EXPECT_EQ(other->items[0].error->code, ErrorCode::kConflict);
  EXPECT_NE(other->items[0].error->message.find("request_id rid-3"), std::string::npos);
  // A different task count is another body too.
  auto more = Submit({Spec(), Spec()}, {Key("rid-3", "body-a", 0, 2)});
  ASSERT_TRUE(more.has_value());
  EXPECT_TRUE(more->items[0].error && more->items[1].error);
  EXPECT_EQ(StatsOf("default").stats.submitted, 1u);
}

TEST_F(StoreRequestIdTest, RequestIdsAreKeptPerOwner) {
  auto a = Submit({Spec()}, {Key("shared-id", "d", 0, 1)}, {"key-A"});
  ASSERT_TRUE(a.has_value());
  // Another key guessing the id learns nothing and is not blocked: its tasks are its own.
  auto b = Submit({Spec()}, {Key("shared-id", "d", 0, 1)}, {"key-B"});
  ASSERT_TRUE(b.has_value());
  ASSERT_EQ(b->items.size(), 1u);
  EXPECT_FALSE(b->items[0].duplicate);
  EXPECT_NE(b->items[0].id, a->items[0].id);
  auto a2 = Submit({Spec()}, {Key("shared-id", "d", 0, 1)}, {"key-A"});
  ASSERT_TRUE(a2.has_value());
  EXPECT_TRUE(a2->items[0].replayed);
  EXPECT_EQ(a2->items[0].id, a->items[0].id);
  EXPECT_EQ(StatsOf("default").stats.submitted, 2u);
  EXPECT_GT(RawInt({"PTTL", prefix_ + "rq@key-A:shared-id"}), 0);
}

TEST_F(StoreRequestIdTest, AFirstCallsItemErrorsAreAnsweredAgain) {
  auto fixed = Spec();
  fixed.id = "fixed-1";
  EnqueueOne(fixed);
  // Item 0 clashes, item 1 is stored; the resend must neither store item 1 again nor turn
  // item 0 into a success.
  auto first = Submit({fixed, Spec()}, {Key("rid-4", "d", 0, 2)});
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(first->items[0].error);
  auto again = Submit({fixed, Spec()}, {Key("rid-4", "d", 0, 2)});
  ASSERT_TRUE(again.has_value());
  ASSERT_TRUE(again->items[0].error);
  EXPECT_EQ(again->items[0].error->code, ErrorCode::kConflict);
  EXPECT_TRUE(again->items[1].replayed);
  EXPECT_EQ(again->items[1].id, first->items[1].id);
  EXPECT_EQ(StatsOf("default").stats.submitted, 2u);
}

TEST_F(StoreRequestIdTest, ARequestIdWithAnIdempotencyKeyStillStoresOnce) {
  auto s = Spec();
  s.idempotency_key = "order-9";
  auto first = Submit({s}, {Key("rid-5", "d", 0, 1)});
  auto again = Submit({s}, {Key("rid-5", "d", 0, 1)});
  ASSERT_TRUE(first.has_value() && again.has_value());
  EXPECT_EQ(again->items[0].id, first->items[0].id);
  EXPECT_TRUE(again->items[0].replayed);
  EXPECT_EQ(StatsOf("default").stats.submitted, 1u);
}

TEST_F(StoreRequestIdTest, AResentBatchReturnsTheFirstBatch) {
  auto first = Batch("batch-1", Key("rid-b", "d", 0, 0));
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  EXPECT_TRUE(first->replayed_batch.empty());
  ASSERT_EQ(first->items.size(), 2u);
  // The resend got another batch id from its broker: nothing of it is stored.
  auto again = Batch("batch-2", Key("rid-b", "d", 0, 0));
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_EQ(again->replayed_batch, "batch-1");
  EXPECT_TRUE(again->items.empty());
  EXPECT_TRUE(again->batches.empty());
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "batch:batch-2"}), 0);
  EXPECT_EQ(StatsOf("default").stats.submitted, 2u);
  // Another body under the same id: refused whole, nothing stored.
  auto other = Batch("batch-3", Key("rid-b", "another", 0, 0));
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code, ErrorCode::kConflict);
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "batch:batch-3"}), 0);
  // A SUBMIT may not reuse a BATCH's id either.
  auto submit = Submit({Spec()}, {Key("rid-b", "d", 0, 1)});
  ASSERT_TRUE(submit.has_value());
  EXPECT_TRUE(submit->items[0].error);
  EXPECT_EQ(StatsOf("default").stats.submitted, 2u);
}

TEST_F(StoreRequestIdTest, AResentBatchOfAnotherOwnerIsANewBatch) {
  ASSERT_TRUE(Batch("batch-o1", Key("rid-o", "d", 0, 0), "key-A").has_value());
  auto b = Batch("batch-o2", Key("rid-o", "d", 0, 0), "key-B");
  ASSERT_TRUE(b.has_value()) << b.error().ToString();
  EXPECT_TRUE(b->replayed_batch.empty());
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "batch:batch-o2"}), 1);
}

}  // namespace
}  // namespace taskmill::broker
