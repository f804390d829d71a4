// Hostile state (issue 13, slice sec-state): attacks that leave state behind in Redis or in
// the broker, make replies larger than a decoder accepts, or queue expensive reads in front
// of everyone else. Each runs against a live broker while a healthy client keeps submitting,
// asserts the attack is held, and prints one HOSTILE_ATTACK line (scripts/chaos.sh
// tabulates them; before/after figures in docs/security.md and docs/reliability.md).
// Counts are bounded and short by default; TASKMILL_CHAOS_LONG=1 scales them to the issue's.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>
#include <zmq.hpp>

#include "chaos/harness.h"
#include "chaos/healthy_client.h"
#include "redis/redis_connection.h"
#include "support/launch.h"
#include "taskmill/shared/protocol/codec.h"

namespace taskmill::chaos {
namespace {

using protocol::TaskState;
using taskmill::testing::WireClient;

bool Long() { return std::getenv("TASKMILL_CHAOS_LONG") != nullptr; }

// A healthy client's p50 during an attack may be this many times its idle p50 (with a floor:
// a sub-millisecond idle p50 on a shared two-core machine makes a ratio meaningless).
constexpr int64_t kMaxSlowdown = 10;
constexpr int64_t kFloorUs = 5000;

void SendRaw(WireClient& c, const protocol::Message& m) {
  auto f = protocol::Encode(m);
  c.SendRaw({f.version, f.command, f.body});
}

// One attack's figures, printed as a HOSTILE_ATTACK line.
struct Figures {
  explicit Figures(std::string name) : attack(std::move(name)) {}
  std::string attack;
  int64_t p50_idle_us = 0;
  int64_t p50_attack_us = 0;
  std::map<std::string, std::string> extra;
  bool held = true;
  void Print() const {
    std::ostringstream line;
    line << "HOSTILE_ATTACK attack=" << attack << " p50_idle_us=" << p50_idle_us
         << " p50_attack_us=" << p50_attack_us << " held=" << (held ? "yes" : "no");
    for (const auto& [k, v] : extra) line << " " << k << "=" << v;
    std::cout << line.str() << std::endl;
  }
};

class HostileStateTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> broker_args = {}) {
    ChaosCluster::Options o;
    o.broker_args = std::move(broker_args);
    auto started = ChaosCluster::Start("hostile-state", o);
    ASSERT_TRUE(started.has_value()) << started.error().message;
    cluster_ = std::move(*started);
    ASSERT_TRUE(cluster_->StartWorker("w0", 8));
    healthy_ = std::make_unique<HealthyClient>(cluster_->frontend(), cluster_->queue());
    ASSERT_TRUE(WaitFor(
        [&] { return healthy_->client.Call(protocol::Stats{}, 2000).has_value(); }, 10000));
    ASSERT_TRUE(redis_.has_value() || ConnectRedis());
  }
  bool ConnectRedis() {
    redis_.emplace(cluster_->redis().config());
    redis_->Start();
    return broker::RunUntil(*redis_, [&] { return redis_->ready(); }, 5000);
  }
  // An integer reply of one Redis command, or -1.
  int64_t RedisInt(const std::vector<std::string>& args) {
    int64_t out = -1;
    bool done = false;
    redis_->Command(args, [&](Result<const redisReply*> r) {
      if (r && (*r)->type == REDIS_REPLY_INTEGER) out = (*r)->integer;
      done = true;
    });
    broker::RunUntil(*redis_, [&] { return done; }, 5000);
    return out;
  }
  std::string Key(const std::string& k) const { return "chaos" + std::to_string(getpid()) + ":" + k; }

  int64_t IdleP50() {
    auto idle = healthy_->Run("idle", 1500, 120);
    EXPECT_GT(idle.size(), 20u);
    return Percentile(idle, 0.5);
  }
  // Runs `attack` on its own thread while the healthy client measures; returns the p50.
  int64_t P50During(const std::function<void()>& attack, int64_t max_ms) {
    std::atomic<bool> over{false};
    std::thread t([&] {
      attack();
      over = true;
    });
    auto during = healthy_->Run("during-" + std::to_string(++runs_), max_ms, 100000, &over);
    t.join();
    EXPECT_GT(during.size(), 5u);
    return Percentile(during, 0.5);
  }
  void Check(Figures& f) {
    int64_t bound = std::max(kMaxSlowdown * f.p50_idle_us, kFloorUs);
    EXPECT_LE(f.p50_attack_us, bound) << f.attack << ": healthy p50 " << f.p50_attack_us
                                      << " us during the attack vs " << f.p50_idle_us << " idle";
    EXPECT_EQ(healthy_->failures, 0u) << f.attack;
    f.held = f.held && !HasFailure();
    f.extra["rss_kib"] = std::to_string(RssKib(cluster_->broker().pid()));
    f.Print();
    if (HasFailure()) std::cerr << cluster_->Logs();
  }
  // Every page of STATS (the wire client decodes each with the default limits).
  struct Paged {
    size_t pages = 0;
    size_t queues = 0;
    size_t workers = 0;
    std::optional<Error> error;
  };
  Paged StatsAllPages(WireClient& c) {
    Paged p;
    protocol::Stats s;
    for (int i = 0; i < 10000; ++i) {
      auto r = c.Call(s, 20000);
      if (!r) {
        p.error = r.error();
        return p;
      }
      if (r->error) {
        p.error = Error{ErrorCode::kInternal, r->error->message};
        return p;
      }
      ++p.pages;
      p.queues += r->queues.size();
      p.workers += r->workers.size();
      if (r->next_cursor.empty()) return p;
      s.cursor = r->next_cursor;
    }
    return p;
  }

  std::unique_ptr<ChaosCluster> cluster_;
  std::unique_ptr<HealthyClient> healthy_;
  std::optional<broker::RedisConnection> redis_;
  int runs_ = 0;
};

// 100k one-off task types submitted then cancelled: types:<queue> kept every one, and the
// depth check walked them all on every SUBMIT (issue: 18,735 -> 6 SUBMIT/s, p50 6.5 -> 175 ms).
TEST_F(HostileStateTest, OneOffTypesSubmittedThenCancelled) {
  Start({"--max-queue-depth", "1000000"});
  Figures f("one_off_types");
  f.p50_idle_us = IdleP50();
  const size_t n = Long() ? 100'000 : 20'000;
  WireClient attacker(cluster_->frontend());
  std::vector<std::string> ids;
  for (size_t i = 0; i < n; i += 1000) {
    protocol::Submit s;
    for (size_t j = i; j < std::min(n, i + 1000); ++j) {
      protocol::TaskSpec t;
      t.id = "oneoff-" + std::to_string(j);
      t.queue = cluster_->queue();
      t.type = "one-off-" + std::to_string(j);
      s.tasks.push_back(t);
      ids.push_back(t.id);
    }
    auto r = attacker.Call(s, 20000);
    ASSERT_TRUE(r && !r->error);
  }
  for (size_t i = 0; i < ids.size(); i += 10000) {
    protocol::Cancel c;
    c.ids.assign(ids.begin() + i, ids.begin() + std::min(ids.size(), i + 10000));
    auto r = attacker.Call(c, 20000);
    ASSERT_TRUE(r && !r->error);
  }
  int64_t types = RedisInt({"SCARD", Key("types:" + cluster_->queue())});
  // The state is left behind: the healthy client's SUBMITs (same queue, depth cap on) and
  // the workers' claims now run against it.
  auto after = healthy_->Run("after-types", 2000, 150);
  f.p50_attack_us = Percentile(after, 0.5);
  EXPECT_LE(types, 5) << "types:<queue> still lists cancelled one-off types";
  // SUBMIT throughput into that queue, one task per SUBMIT.
  auto t0 = std::chrono::steady_clock::now();
  size_t submitted = 0;
  for (; submitted < 500; ++submitted) {
    protocol::Submit s;
    protocol::TaskSpec t;
    t.queue = cluster_->queue();
    t.type = "echo";
    s.tasks = {t};
    auto r = attacker.Call(s, 5000);
    if (!r || r->error) break;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  f.extra["types"] = std::to_string(n);
  f.extra["types_left"] = std::to_string(types);
  f.extra["submit_per_s"] = std::to_string(static_cast<int64_t>(submitted / secs));
  Check(f);
}

// Many queue names, then STATS: one reply listed them all and went past the decoder's array
// limit for 100,001 queues. Now every page stays within it and paging reaches them all.
TEST_F(HostileStateTest, ManyQueueNamesThenStats) {
  Start();
  Figures f("many_queues_stats");
  f.p50_idle_us = IdleP50();
  const size_t n = Long() ? 100'001 : 5'000;
  WireClient attacker(cluster_->frontend());
  for (size_t i = 0; i < n; i += 1000) {
    protocol::Submit s;
    for (size_t j = i; j < std::min(n, i + 1000); ++j) {
      protocol::TaskSpec t;
      t.queue = "hq-" + std::to_string(j);
      t.type = "echo";
      s.tasks.push_back(t);
    }
    auto r = attacker.Call(s, 20000);
    ASSERT_TRUE(r && !r->error);
  }
  // Walks every page again and again (bounded) while the healthy client measures.
  Paged paged;
  size_t walks = 0;
  f.p50_attack_us = P50During(
      [&] {
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(2500);
        while (walks < 2000 && std::chrono::steady_clock::now() < end) {
          paged = StatsAllPages(attacker);
          ++walks;
          if (paged.error) break;
        }
      },
      30000);
  EXPECT_FALSE(paged.error) << (paged.error ? paged.error->message : "");
  EXPECT_GE(paged.queues, n);
  EXPECT_GE(paged.pages, n / 1000);
  f.extra["queues"] = std::to_string(paged.queues);
  f.extra["pages"] = std::to_string(paged.pages);
  f.extra["walks"] = std::to_string(walks);
  Check(f);
}

// Two workers whose READY carries 9,000 x 1 KB labels made STATS 18.2 MB: over the frame
// limit, so every client's `taskmill stats` failed. Such a READY is refused now (the READY
// label caps); workers at the label cap are paged by bytes and labels shown are capped, so
// many of them cannot make one STATS reply large or slow either.
TEST_F(HostileStateTest, HugeReadyLabelsThenStats) {
  Start();
  Figures f("huge_labels_stats");
  f.p50_idle_us = IdleP50();
  const int huge = 2, at_cap = Long() ? 60 : 30;
  std::vector<std::unique_ptr<WireClient>> fakes;
  for (int w = 0; w < huge + at_cap; ++w) {
    fakes.push_back(std::make_unique<WireClient>(cluster_->backend()));
    protocol::Ready ready;
    ready.worker_id = "labels-" + std::to_string(w);
    ready.queues = {"nobody-" + std::to_string(w)};
    // The READY (9,000 x 1 KB), then READYs at the cap (64 labels of ~1,000 bytes).
    int labels = w < huge ? 9000 : 64;
    for (int i = 0; i < labels; ++i) {
      ready.labels["l" + std::to_string(i)] = std::string(w < huge ? 1000 : 990, 'x');
    }
    SendRaw(*fakes.back(), ready);
  }
  WireClient reader(cluster_->frontend());
  // Registered (the real worker too) before the measurement starts; the huge ones may be
  // refused (sec-input's READY caps) or registered: STATS must hold either way.
  uint32_t registered = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        protocol::Stats st;
        st.sections = {"broker"};
        auto r = reader.Call(st, 5000);
        if (!r || r->error || !r->broker) return false;
        registered = r->broker->workers;
        return registered >= static_cast<uint32_t>(1 + at_cap);
      },
      10000))
      << registered << " workers registered";
  Paged paged;
  size_t walks = 0;
  f.p50_attack_us = P50During(
      [&] {
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(2500);
        auto beat = std::chrono::steady_clock::now();
        while (walks < 2000 && std::chrono::steady_clock::now() < end) {
          if (std::chrono::steady_clock::now() >= beat) {  // keep the fakes alive
            for (auto& fake : fakes) SendRaw(*fake, protocol::Heartbeat{});
            beat += std::chrono::milliseconds(100);
          }
          paged = StatsAllPages(reader);
          ++walks;
          if (paged.error) break;
        }
      },
      30000);
  EXPECT_FALSE(paged.error) << (paged.error ? paged.error->message : "");
  EXPECT_GE(paged.workers, static_cast<size_t>(1 + at_cap));
  f.extra["pages"] = std::to_string(paged.pages);
  f.extra["workers_seen"] = std::to_string(paged.workers);
  f.extra["walks"] = std::to_string(walks);
  Check(f);
}

// --max-batch-tasks 20000 let a batch's status outgrow the decoders' 10,000-entry map: the
// broker now refuses to start with it; a batch at the limit has a readable status.
TEST_F(HostileStateTest, LargeBatchStatus) {
  {
    taskmill::testing::ChildProcess refused;
    auto argv = std::vector<std::string>{taskmill::testing::Binary("broker/taskmill-broker"),
                                         "--max-batch-tasks", "20000"};
    auto child = taskmill::testing::ChildProcess::Spawn(argv, "/dev/null", {});
    ASSERT_TRUE(child.has_value());
    auto code = child->Wait(10000);
    ASSERT_TRUE(code.has_value()) << "the broker started with --max-batch-tasks 20000";
    EXPECT_NE(*code, 0);
  }
  Start();
  Figures f("large_batch_status");
  f.p50_idle_us = IdleP50();
  WireClient attacker(cluster_->frontend());
  protocol::Batch b;
  const size_t n = 10'000;
  for (size_t i = 0; i < n; ++i) {
    protocol::TaskSpec t;
    t.name = "task-with-a-longish-name-" + std::to_string(i);
    t.queue = "nobody-serves-this";
    t.type = "echo";
    b.batch.tasks.push_back(t);
  }
  auto created = attacker.Call(b, 30000);
  ASSERT_TRUE(created && !created->error && created->batch);
  std::string id = created->batch->id;
  size_t read_ok = 0;
  f.p50_attack_us = P50During(
      [&] {
        for (int i = 0; i < 10; ++i) {
          protocol::Get g;
          g.batch_id = id;
          auto r = attacker.Call(g, 20000);
          if (r && !r->error && r->batch && r->batch->tasks.size() == n) ++read_ok;
          std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a polling client
        }
      },
      30000);
  EXPECT_EQ(read_ok, 10u);
  f.extra["batch_tasks"] = std::to_string(n);
  f.extra["status_reads_ok"] = std::to_string(read_ok);
  Check(f);
}

// 100 WAITs of 10k ids from a client that then vanishes kept 465 MB until their timeouts (up
// to 49.7 days). Now quotas refuse most of them and the rest go with the client.
TEST_F(HostileStateTest, WaitHoardingByAClientThatVanishes) {
  Start();
  Figures f("wait_hoarding");
  f.p50_idle_us = IdleP50();
  int64_t rss_before = RssKib(cluster_->broker().pid());
  // Pending tasks (a queue nobody serves), so the WAITs really wait.
  WireClient setup(cluster_->frontend());
  std::vector<std::string> ids;
  for (size_t i = 0; i < 10'000; i += 1000) {
    protocol::Submit s;
    for (size_t j = i; j < i + 1000; ++j) {
      protocol::TaskSpec t;
      t.id = "hoard-" + std::to_string(j);
      t.queue = "nobody-hoards";
      t.type = "echo";
      s.tasks.push_back(t);
      ids.push_back(t.id);
    }
    ASSERT_TRUE(setup.Call(s, 20000).has_value());
  }
  const int clients = 3, waits = Long() ? 100 : 30;
  size_t refused = 0;
  f.p50_attack_us = P50During(
      [&] {
        std::vector<std::unique_ptr<WireClient>> hoarders;
        for (int c = 0; c < clients; ++c) {
          hoarders.push_back(std::make_unique<WireClient>(cluster_->frontend()));
          for (int w = 0; w < waits; ++w) {
            protocol::Wait wait;
            wait.req_id = static_cast<uint64_t>(w + 1);
            wait.ids = ids;
            wait.timeout_ms = 0xFFFFFFFFu;  // 49.7 days
            SendRaw(*hoarders.back(), wait);
          }
        }
        // Read the refusals, then vanish.
        // Each may hold 5 WAITs of 10k ids (50,000 ids per client): the rest are refused.
        for (auto& h : hoarders) {
          size_t own = 0;
          WaitFor(
              [&] {
                while (auto r = h->Receive(0)) {
                  auto* reply = std::get_if<protocol::Reply>(&*r);
                  if (reply && reply->error && reply->error->code == "over_limit") ++own;
                }
                return own >= static_cast<size_t>(waits - 5);
              },
              10000);
          refused += own;
        }
        // Hold them until the broker has read and parked every admitted WAIT (the healthy
        // client measures meanwhile), then vanish without a word.
        WireClient watcher(cluster_->frontend());
        WaitFor(
            [&] {
              protocol::Stats st;
              st.sections = {"broker"};
              auto r = watcher.Call(st, 5000);
              return r && !r->error && r->broker &&
                     r->broker->waits >= static_cast<uint64_t>(clients * waits) - refused;
            },
            30000);
      },
      20000);
  int64_t rss_peak = RssKib(cluster_->broker().pid());
  // Every hoarder is gone: the broker holds none of their WAITs.
  WireClient reader(cluster_->frontend());
  uint64_t waits_left = ~0ull;
  EXPECT_TRUE(WaitFor(
      [&] {
        protocol::Stats s;
        s.sections = {"broker"};
        auto r = reader.Call(s, 5000);
        if (!r || r->error || !r->broker) return false;
        waits_left = r->broker->waits;
        return waits_left == 0;
      },
      10000))
      << waits_left << " WAITs still held after their clients left";
  EXPECT_GE(refused, static_cast<size_t>(clients * (waits - 5)));
  EXPECT_LT(rss_peak - rss_before, 150 * 1024) << "broker RSS grew by " << rss_peak - rss_before;
  f.extra["waits_sent"] = std::to_string(clients * waits);
  f.extra["refused"] = std::to_string(refused);
  f.extra["waits_left"] = std::to_string(waits_left);
  f.extra["rss_growth_kib"] = std::to_string(rss_peak - rss_before);
  Check(f);
}

// Expensive reads (STATS over many queues, WAIT of 10k ids, SUBSCRIBE to a 10k-task batch)
// queued behind the one Redis connection and pushed every other client's p50 to 3.7-7.3 s.
// They now go to their own connection, a chunk at a time.
TEST_F(HostileStateTest, ExpensiveReadsAgainstAHealthyClient) {
  Start();
  Figures f("expensive_reads");
  WireClient setup(cluster_->frontend());
  std::vector<std::string> ids;
  for (size_t i = 0; i < 10'000; i += 1000) {
    protocol::Submit s;
    for (size_t j = i; j < i + 1000; ++j) {
      protocol::TaskSpec t;
      t.id = "exp-" + std::to_string(j);
      t.queue = "exp-" + std::to_string(j % 2000);  // 2,000 queues for STATS to walk
      t.type = "echo";
      s.tasks.push_back(t);
      ids.push_back(t.id);
    }
    ASSERT_TRUE(setup.Call(s, 20000).has_value());
  }
  protocol::Batch b;
  for (size_t i = 0; i < 10'000; ++i) {
    protocol::TaskSpec t;
    t.name = "n" + std::to_string(i);
    t.queue = "nobody-serves-this";
    t.type = "echo";
    b.batch.tasks.push_back(t);
  }
  auto created = setup.Call(b, 30000);
  ASSERT_TRUE(created && !created->error && created->batch);
  std::string batch_id = created->batch->id;
  f.p50_idle_us = IdleP50();
  std::atomic<size_t> reads{0};
  const int64_t attack_ms = Long() ? 10000 : 3000;
  f.p50_attack_us = P50During(
      [&] {
        std::vector<std::unique_ptr<WireClient>> readers;
        for (int i = 0; i < 3; ++i) readers.push_back(std::make_unique<WireClient>(cluster_->frontend()));
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(attack_ms);
        uint64_t req = 1;
        while (std::chrono::steady_clock::now() < end && reads < 3000) {
          protocol::Stats st;
          st.req_id = req++;
          SendRaw(*readers[0], st);
          protocol::Wait w;
          w.req_id = req++;
          w.ids = ids;
          w.timeout_ms = 0;
          SendRaw(*readers[1], w);
          protocol::Subscribe sub;
          sub.req_id = req++;
          sub.batch_id = batch_id;
          SendRaw(*readers[2], sub);
          // Keep a few of each in flight: read what came back, without waiting on it.
          for (auto& r : readers) {
            while (r->Receive(0)) ++reads;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      },
      attack_ms + 5000);
  f.extra["reads_answered"] = std::to_string(reads.load());
  Check(f);
}

// A client that asks for large replies and never reads them grew the broker to 357 MB: the
// send high-water mark counts messages, not bytes. Now past --max-queued-bytes-per-client,
// with its socket full, its replies are dropped and its connection cut. The bound is set by
// TASKMILL_CHAOS_QUEUED_BYTES when given (0: off, the "before" figure).
TEST_F(HostileStateTest, AClientThatNeverReadsItsReplies) {
  std::vector<std::string> args;
  if (const char* cap = std::getenv("TASKMILL_CHAOS_QUEUED_BYTES")) {
    args = {"--max-queued-bytes-per-client", cap};
  }
  Start(args);
  Figures f("unread_replies");
  f.p50_idle_us = IdleP50();
  // Eight tasks whose outputs are 256 KiB (echo returns its payload): a GET of them is a
  // 2 MiB reply.
  WireClient setup(cluster_->frontend());
  protocol::Get get;
  {
    protocol::Submit s;
    for (int i = 0; i < 8; ++i) {
      protocol::TaskSpec t;
      t.id = "big-" + std::to_string(i);
      t.queue = cluster_->queue();
      t.type = "echo";
      t.payload = std::string(256 << 10, 'x');
      s.tasks.push_back(t);
      get.ids.push_back(t.id);
    }
    auto r = setup.Call(s, 20000);
    ASSERT_TRUE(r && !r->error);
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = setup.Call(get, 20000);
        if (!r || r->error || r->tasks.size() != get.ids.size()) return false;
        return std::all_of(r->tasks.begin(), r->tasks.end(), [](const protocol::TaskInfo& t) {
          return t.state == TaskState::kSucceeded && t.output.size() == (256u << 10);
        });
      },
      20000));
  const pid_t pid = cluster_->broker().pid();
  const int64_t rss_before = RssKib(pid);
  int64_t rss_peak = rss_before;
  const int gets = Long() ? 400 : 160;  // 320 MiB of replies (800 MiB long)
  WireClient watcher(cluster_->frontend());
  protocol::BrokerStats seen;
  auto broker_stats = [&] {
    protocol::Stats st;
    st.sections = {"broker"};
    auto r = watcher.Call(st, 5000);
    if (r && !r->error && r->broker) seen = *r->broker;
    rss_peak = std::max(rss_peak, RssKib(pid));
    return seen;
  };
  bool cut = false;
  f.p50_attack_us = P50During(
      [&] {
        // A DEALER that holds at most one message and a small socket buffer, and never reads.
        zmq::context_t zctx(1);
        zmq::socket_t attacker(zctx, zmq::socket_type::dealer);
        attacker.set(zmq::sockopt::rcvhwm, 1);
        attacker.set(zmq::sockopt::rcvbuf, 64 << 10);
        attacker.set(zmq::sockopt::linger, 0);
        attacker.connect(cluster_->frontend());
        for (int i = 0; i < gets; ++i) {
          get.req_id = static_cast<uint64_t>(i + 1);
          auto frames = protocol::Encode(get);
          attacker.send(zmq::buffer(frames.version), zmq::send_flags::sndmore);
          attacker.send(zmq::buffer(frames.command), zmq::send_flags::sndmore);
          attacker.send(zmq::buffer(frames.body), zmq::send_flags::none);
          // Pacing only: each 2 MiB read holds Redis (single-threaded) for a ms or two; a
          // flood of them is the expensive-reads attack, not this one.
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          rss_peak = std::max(rss_peak, RssKib(pid));
        }
        // Until its connection is cut (never, with the bound off: the deadline ends it).
        cut = WaitFor([&] { return broker_stats().clients_cut >= 1; }, Long() ? 60000 : 20000);
      },
      Long() ? 90000 : 40000);
  // What was queued for it goes with its connection.
  bool freed = WaitFor([&] { return broker_stats().queued_bytes < (1u << 20); }, 10000);
  const int64_t rss_after = RssKib(pid);
  EXPECT_TRUE(cut) << "the client that never reads was not cut off";
  EXPECT_TRUE(freed) << seen.queued_bytes << " bytes still counted as queued";
  EXPECT_GE(seen.replies_dropped, 1u);
  // 64 MiB of unread replies at most (the cap), plus transient copies of a few replies.
  EXPECT_LT(rss_peak - rss_before, 128 * 1024) << "broker RSS grew by " << rss_peak - rss_before;
  f.extra["reply_mib"] = "2";
  f.extra["gets"] = std::to_string(gets);
  f.extra["rss_before_kib"] = std::to_string(rss_before);
  f.extra["rss_peak_kib"] = std::to_string(rss_peak);
  f.extra["rss_after_kib"] = std::to_string(rss_after);
  f.extra["replies_dropped"] = std::to_string(seen.replies_dropped);
  f.extra["clients_cut"] = std::to_string(seen.clients_cut);
  Check(f);
}

// A worker with 64 queues x 512 types made every claim run 32,768 ZRANGEs (healthy p50
// 946 ms). --max-worker-claim-keys (1,024) refuses that READY; workers AT the cap (64 x 16
// and 2 x 512, the healthy client's queue among theirs, so its every SUBMIT wakes their
// claims) must not slow the healthy client past 10x either.
TEST_F(HostileStateTest, WorkersAtTheClaimKeyCap) {
  Start();
  Figures f("claim_keys_at_cap");
  f.p50_idle_us = IdleP50();
  struct Shape {
    int queues, types;
  };
  const std::vector<Shape> shapes = {{64, 16}, {2, 512}};  // 64 queues, 512 types at most
  std::vector<std::unique_ptr<WireClient>> fakes;
  for (size_t w = 0; w < shapes.size(); ++w) {
    fakes.push_back(std::make_unique<WireClient>(cluster_->backend()));
    protocol::Ready ready;
    ready.worker_id = "wide-" + std::to_string(w);
    ready.concurrency = 8;
    ready.queues = {cluster_->queue()};
    for (int q = 1; q < shapes[w].queues; ++q) {
      ready.queues.push_back("wide-" + std::to_string(w) + "-" + std::to_string(q));
    }
    // Types it never gets (not echo), so it claims on every wake and finds nothing.
    if (shapes[w].types > 1) {
      for (int t = 0; t < shapes[w].types; ++t) ready.types.push_back("wt-" + std::to_string(t));
    } else {
      ready.types = {"wt-only"};
    }
    SendRaw(*fakes.back(), ready);
  }
  WireClient reader(cluster_->frontend());
  uint32_t registered = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        protocol::Stats st;
        st.sections = {"broker"};
        auto r = reader.Call(st, 5000);
        if (!r || r->error || !r->broker) return false;
        registered = r->broker->workers;
        return registered >= 1 + shapes.size();
      },
      10000))
      << registered << " workers registered";
  const int64_t attack_ms = Long() ? 10000 : 3000;
  f.p50_attack_us = P50During(
      [&] {
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(attack_ms);
        while (std::chrono::steady_clock::now() < end) {  // keep the fakes alive
          for (auto& fake : fakes) SendRaw(*fake, protocol::Heartbeat{});
          std::this_thread::sleep_for(std::chrono::milliseconds(100));  // heartbeat pacing
        }
      },
      attack_ms + 5000);
  f.extra["workers"] = "64x16,2x512";
  Check(f);
}

}  // namespace
}  // namespace taskmill::chaos
