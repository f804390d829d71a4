// Redis at its maxmemory with noeviction: every store call that writes fails with the
// distinct, retryable code store_full and a clear message (not `internal` with Redis's raw
// text), nothing of it is stored, and reads still work.

#include <gtest/gtest.h>

#include "store_test_util.h"

namespace taskmill::broker {
namespace {

using protocol::TaskState;

class StoreFullTest : public StoreTest {
 protected:
  Result<const redisReply*> Config(const std::string& key, const std::string& value) {
    return Await<const redisReply*>(
        [&](auto cb) { conn_->Command({"CONFIG", "SET", key, value}, cb); });
  }
  void TearDown() override {
    (void)Config("maxmemory", "0");
    StoreTest::TearDown();
  }
};

TEST_F(StoreFullTest, WritesFailWithStoreFullAndNothingIsStored) {
  std::string id = EnqueueOne(Spec());
  ASSERT_TRUE(Config("maxmemory-policy", "noeviction"));
  ASSERT_TRUE(Config("maxmemory", "1"));
  auto spec = Spec();
  spec.id = "refused";
  auto r = Await<EnqueueResult>([&](auto cb) { store_->Enqueue({spec}, cb); });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kStoreFull);
  EXPECT_EQ(r.error().message,
            "Redis is full (used memory is over its maxmemory, and it evicts nothing): "
            "nothing was stored; retry once memory is freed");
  // A claim (it writes) is refused the same way; reads still answer.
  auto claim = Await<ClaimResult>([&](auto cb) {
    store_->Claim(ClaimRequest{"w1", {"default"}, {}, 1, 10000}, cb);
  });
  ASSERT_FALSE(claim.has_value());
  EXPECT_EQ(claim.error().code, ErrorCode::kStoreFull);
  auto got = Await<std::vector<std::optional<protocol::TaskInfo>>>(
      [&](auto cb) { store_->Get({id, "refused"}, cb); });
  ASSERT_TRUE(got.has_value()) << got.error().ToString();
  ASSERT_TRUE((*got)[0].has_value());
  EXPECT_EQ((*got)[0]->state, TaskState::kQueued);
  EXPECT_FALSE((*got)[1].has_value()) << "a refused enqueue stored its task";
  // Once memory is freed the same call works.
  ASSERT_TRUE(Config("maxmemory", "0"));
  r = Await<EnqueueResult>([&](auto cb) { store_->Enqueue({spec}, cb); });
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
}

}  // namespace
}  // namespace taskmill::broker
