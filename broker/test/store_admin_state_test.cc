// Paused queues and quiet workers in the store (queue_pause.lua, claim.lua, stats.lua,
// worker_quiet.lua): a paused queue keeps and takes tasks but leases none, other queues are
// untouched, resume leases again; the state is Redis's, so a second Store (another broker, or
// a restarted one) sees it; quiet records are read back, refreshed and removed.

#include "store_test_util.h"

namespace taskmill::broker {
namespace {

class StoreAdminStateTest : public StoreTest {
 protected:
  bool Pause(const std::string& queue, bool paused) {
    auto r = Await<bool>([&](auto cb) { store_->SetQueuePaused(queue, paused, cb); });
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r.value_or(!paused);
  }
  std::vector<std::string> Quiet(std::vector<std::string> ids, Store& store) {
    auto r = Await<std::vector<std::string>>(
        [&](auto cb) { store.QuietWorkers(std::move(ids), cb); });
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r.value_or(std::vector<std::string>{});
  }
};

TEST_F(StoreAdminStateTest, APausedQueueKeepsItsTasksAndLeasesNoneUntilResumed) {
  EXPECT_TRUE(Pause("images", true));
  // Submits still work while paused.
  std::string a = EnqueueOne(Spec("echo", 0, "images"));
  std::string b = EnqueueOne(Spec("echo", 0, "images"));
  std::string other = EnqueueOne(Spec("echo", 0, "default"));
  // A worker of both queues gets only the other queue's task.
  auto got = ClaimOk(10, {"images", "default"});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].task_id, other);
  EXPECT_TRUE(ClaimOk(10, {"images"}).empty());
  auto s = StatsOf("images");
  EXPECT_TRUE(s.stats.paused);
  EXPECT_EQ(s.stats.ready, 2u) << "its tasks stay queued";
  EXPECT_FALSE(StatsOf("default").stats.paused);

  EXPECT_FALSE(Pause("images", false));
  EXPECT_FALSE(StatsOf("images").stats.paused);
  auto after = ClaimOk(10, {"images"});
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].task_id, a) << "FIFO as before the pause";
  EXPECT_EQ(after[1].task_id, b);
}

TEST_F(StoreAdminStateTest, PausingIsIdempotentAndSharedByEveryStoreOnThePrefix) {
  EXPECT_TRUE(Pause("q1", true));
  EXPECT_TRUE(Pause("q1", true));
  EnqueueOne(Spec("echo", 0, "q1"));
  // Another broker's Store (or this broker after a restart) on the same Redis and prefix.
  StoreOptions o;
  o.prefix = prefix_;
  Store other(*conn_, clock_, o);
  ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
  ClaimRequest req{"w2", {"q1"}, {}, 5, 30000};
  auto r = Await<ClaimResult>([&](auto cb) { other.Claim(req, cb); });
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->tasks.empty());
  auto resumed = Await<bool>([&](auto cb) { other.SetQueuePaused("q1", false, cb); });
  ASSERT_TRUE(resumed.has_value());
  EXPECT_FALSE(*resumed);
  EXPECT_EQ(ClaimOk(5, {"q1"}).size(), 1u);
}

TEST_F(StoreAdminStateTest, ABadQueueNameIsRefusedNamingTheRule) {
  auto r = Await<bool>([&](auto cb) { store_->SetQueuePaused("no spaces", true, cb); });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("only letters, digits"), std::string::npos) << r.error().message;
}

TEST_F(StoreAdminStateTest, QuietRecordsAreReadRefreshedAndRemoved) {
  auto set = Await<bool>([&](auto cb) { store_->SetWorkerQuiet("w-1", true, 60000, cb); });
  ASSERT_TRUE(set.has_value()) << set.error().ToString();
  EXPECT_TRUE(*set);
  EXPECT_EQ(Quiet({"w-1", "w-2"}, *store_), std::vector<std::string>{"w-1"});
  // A read starts the record's TTL again (kQuietTtlMs): it lasts while its worker is seen.
  EXPECT_GT(RawInt({"PTTL", prefix_ + "quiet:w-1"}), 60000);
  auto unset = Await<bool>([&](auto cb) { store_->SetWorkerQuiet("w-1", false, 60000, cb); });
  ASSERT_TRUE(unset.has_value());
  EXPECT_FALSE(*unset);
  EXPECT_TRUE(Quiet({"w-1"}, *store_).empty());
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "quiet:w-1"}), 0) << "a read never creates a record";
}

}  // namespace
}  // namespace taskmill::broker
