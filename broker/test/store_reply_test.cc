// The scripts' replies are read by name (store_parse.cc): the order of a reply's fields does
// not matter, an unknown field is ignored, and a reply that is not what the script's contract
// says (not msgpack, a field of the wrong type, an unknown status) is an error naming it,
// never a crash. No Redis needed: the replies are built here as the scripts' reply() would.

#include <hiredis/hiredis.h>
#include <gtest/gtest.h>

#include <string>

#include "store/msgpack_writer.h"
#include "store/store_wire.h"

namespace taskmill::broker::wire {
namespace {

// A Redis bulk string reply holding `bytes`, as a script's reply() returns.
struct Bulk {
  explicit Bulk(std::string b) : bytes(std::move(b)) {
    r.type = REDIS_REPLY_STRING;
    r.str = bytes.data();
    r.len = bytes.size();
  }
  std::string bytes;
  redisReply r{};
};

std::string StatsReply(bool reversed) {
  MsgpackWriter w;
  w.Map(3);
  auto items = [&] {
    w.Str("items");
    w.Array(1);
    w.Map(4);
    if (reversed) {
      w.Str("stats");
      w.Array(4);
      w.Str("running");
      w.Str("3");
      w.Str("c:usd");
      w.Str("1.5");
      w.Str("dead");
      w.Uint(2);
      w.Str("ready");
      w.Uint(7);
      w.Str("queue");
      w.Str("q1");
    } else {
      w.Str("queue");
      w.Str("q1");
      w.Str("ready");
      w.Uint(7);
      w.Str("dead");
      w.Uint(2);
      w.Str("stats");
      w.Array(4);
      w.Str("running");
      w.Str("3");
      w.Str("c:usd");
      w.Str("1.5");
    }
  };
  if (reversed) {
    w.Str("known");
    w.Uint(12);
    w.Str("next");
    w.Str("q1");
    items();
  } else {
    items();
    w.Str("next");
    w.Str("q1");
    w.Str("known");
    w.Uint(12);
  }
  return w.Take();
}

TEST(StoreReplyTest, StatsAreReadByNameInAnyOrder) {
  for (bool reversed : {false, true}) {
    Bulk b(StatsReply(reversed));
    auto page = ParseStats(&b.r);
    ASSERT_TRUE(page.has_value()) << page.error().message;
    EXPECT_EQ(page->next_after, "q1");
    EXPECT_EQ(page->known, 12u);
    ASSERT_EQ(page->queues.size(), 1u);
    const auto& q = page->queues[0].stats;
    EXPECT_EQ(q.queue, "q1");
    EXPECT_EQ(q.ready, 7u);
    EXPECT_EQ(q.dead, 2u);
    EXPECT_EQ(q.running, 3u);
    EXPECT_DOUBLE_EQ(q.cost.at("usd"), 1.5);
  }
}

TEST(StoreReplyTest, CancelItemsAreReadByName) {
  MsgpackWriter w;
  w.Map(3);
  w.Str("extra");  // a field this broker does not know: ignored
  w.Bool(true);
  w.Str("batches");
  w.Array(0);
  w.Str("items");
  w.Array(3);
  w.Map(4);
  w.Str("tok");
  w.Str("18446744073709551615");  // a full 64-bit token survives as a decimal string
  w.Str("worker");
  w.Str("w1");
  w.Str("id");
  w.Str("t1");
  w.Str("s");
  w.Str("cancel_requested");
  w.Map(3);
  w.Str("s");
  w.Str("cancelled");
  w.Str("id");
  w.Str("t2");
  w.Str("can");
  w.Array(1);
  w.Str("t3");
  w.Map(2);
  w.Str("s");
  w.Str("not_found");
  w.Str("id");
  w.Str("t4");
  Bulk b(w.Take());
  auto r = ParseCancel(&b.r);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->items.size(), 3u);
  EXPECT_EQ(r->items[0].status, CancelStatus::kCancelRequested);
  EXPECT_EQ(r->items[0].worker_id, "w1");
  EXPECT_EQ(r->items[0].token, UINT64_MAX);
  EXPECT_EQ(r->items[1].status, CancelStatus::kCancelled);
  EXPECT_EQ(r->items[1].cancelled, std::vector<std::string>{"t3"});
  EXPECT_EQ(r->items[2].status, CancelStatus::kNotFound);
  EXPECT_EQ(r->items[2].task_id, "t4");
}

TEST(StoreReplyTest, UnknownTasksAndBatchesAreEmptyTables) {
  MsgpackWriter w;
  w.Map(1);
  w.Str("tasks");
  w.Array(2);
  w.Array(0);  // Lua's {}: unknown, or another owner's
  w.Map(3);
  w.Str("id");
  w.Str("t9");
  w.Str("hist");
  w.Array(3);
  w.Str("boom");
  w.Str("it broke");
  w.Str("1");
  w.Str("hash");
  w.Array(4);
  w.Str("state");
  w.Str("failed");
  w.Str("att");
  w.Str("2");
  Bulk b(w.Take());
  auto tasks = ParseStoredTasks(&b.r);
  ASSERT_TRUE(tasks.has_value()) << tasks.error().message;
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_FALSE((*tasks)[0].has_value());
  ASSERT_TRUE((*tasks)[1].has_value());
  EXPECT_EQ((*tasks)[1]->id, "t9");
  EXPECT_EQ((*tasks)[1]->fields.at("state"), "failed");
  EXPECT_EQ((*tasks)[1]->history.size(), 3u);

  MsgpackWriter none;
  none.Array(0);
  Bulk nb(none.Take());
  auto batch = ParseStoredBatch(&nb.r);
  ASSERT_TRUE(batch.has_value()) << batch.error().message;
  EXPECT_FALSE(batch->has_value());
}

TEST(StoreReplyTest, RepliesOutsideTheContractAreErrorsNotCrashes) {
  auto internal = [](const auto& r) {
    return !r.has_value() && r.error().code == ErrorCode::kInternal;
  };
  Bulk garbage(std::string("\xc1\xff\x00", 3));
  EXPECT_TRUE(internal(ParseStats(&garbage.r)));
  EXPECT_TRUE(internal(ParsePromote(&garbage.r)));
  EXPECT_TRUE(internal(ParseExtend(&garbage.r)));
  EXPECT_TRUE(internal(ParseCancel(&garbage.r)));
  EXPECT_TRUE(internal(ParseIds(&garbage.r)));
  EXPECT_TRUE(internal(ParseBound(&garbage.r)));
  EXPECT_TRUE(internal(ParseStoredTasks(&garbage.r)));
  EXPECT_TRUE(internal(ParseStoredBatch(&garbage.r)));

  // A Redis array (the old positional replies) is not the contract either.
  redisReply array{};
  array.type = REDIS_REPLY_ARRAY;
  EXPECT_TRUE(internal(ParseStats(&array)));
  EXPECT_TRUE(internal(ParseCancel(&array)));

  MsgpackWriter w;  // a field of the wrong type
  w.Map(1);
  w.Str("ids");
  w.Uint(3);
  Bulk wrong(w.Take());
  EXPECT_TRUE(internal(ParseIds(&wrong.r)));

  MsgpackWriter u;  // an unknown cancel status
  u.Map(1);
  u.Str("items");
  u.Array(1);
  u.Map(2);
  u.Str("s");
  u.Str("exploded");
  u.Str("id");
  u.Str("t1");
  Bulk unknown(u.Take());
  EXPECT_TRUE(internal(ParseCancel(&unknown.r)));

  MsgpackWriter odd;  // names come in (name, id) pairs
  odd.Map(4);
  odd.Str("hash");
  odd.Array(0);
  odd.Str("names");
  odd.Array(1);
  odd.Str("a");
  odd.Str("cp");
  odd.Uint(0);
  odd.Str("next");
  odd.Str("0");
  Bulk odd_names(odd.Take());
  EXPECT_TRUE(internal(ParseStoredBatch(&odd_names.r)));
}

}  // namespace
}  // namespace taskmill::broker::wire
