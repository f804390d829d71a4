// `taskmill stats --watch` with its I/O injected: frames, escape codes only on a terminal,
// rates between frames, Ctrl-C, and an unreachable broker.

#include "cli/stats_watch.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_runner.h"

namespace taskmill::client::cli {
namespace {

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

StatsReply Reply(uint64_t submitted, uint64_t succeeded) {
  StatsReply r;
  protocol::QueueStats q;
  q.queue = "emails";
  q.submitted = submitted;
  q.succeeded = succeeded;
  r.queues.push_back(q);
  protocol::WorkerInfo w;
  w.id = "w-one";
  w.concurrency = 4;
  r.workers.push_back(w);
  return r;
}

// A fake clock the waits advance; fetches answer from a script.
struct Rig {
  std::ostringstream out, err;
  Context ctx{GlobalOptions{}, out, err};
  FakeClock clock{1764930001000};
  int fetches = 0;
  std::vector<int64_t> waits;
  int stop_after_waits = -1;  // the wait after this many returns false (Ctrl-C)
  std::function<Result<StatsReply>(int)> answer = [](int n) {
    return Result<StatsReply>(Reply(10 * n, 8 * n));
  };

  int Run(WatchOptions options) {
    return WatchStats(
        ctx, options, [this] { return answer(fetches++); },
        [this](int64_t ms) {
          waits.push_back(ms);
          clock.Advance(ms);
          return stop_after_waits < 0 || static_cast<int>(waits.size()) < stop_after_waits;
        },
        clock);
  }
};

TEST(StatsWatchTest, WithoutATerminalFramesFollowAsPlainTextWithRates) {
  Rig rig;
  WatchOptions options;
  options.count = 3;
  EXPECT_EQ(rig.Run(options), 0);
  std::string o = rig.out.str();
  EXPECT_EQ(rig.fetches, 3);
  EXPECT_EQ(rig.waits, (std::vector<int64_t>{1000, 1000}));  // none after the last frame
  EXPECT_EQ(o.find('\x1b'), std::string::npos) << o;
  EXPECT_EQ(Count(o, "--- taskmill stats"), 3u) << o;
  EXPECT_EQ(Count(o, "emails"), 3u) << o;
  EXPECT_EQ(Count(o, "w-one"), 3u) << o;
  EXPECT_NE(o.find("frame 3"), std::string::npos) << o;
  // 10 submitted and 8 finished more per frame, one second apart.
  EXPECT_EQ(Count(o, "rate: 10.0 submitted/s, 8.0 finished/s"), 2u) << o;
  EXPECT_NE(o.find("rate: -"), std::string::npos) << o;  // the first frame has no rate yet
}

TEST(StatsWatchTest, OnATerminalEachFrameIsDrawnOverTheLastAndTheCursorComesBack) {
  Rig rig;
  rig.ctx.tty = true;
  WatchOptions options;
  options.count = 2;
  options.interval_ms = 250;
  EXPECT_EQ(rig.Run(options), 0);
  std::string o = rig.out.str();
  EXPECT_EQ(o.rfind("\x1b[?25l\x1b[2J", 0), 0u) << "hides the cursor and clears once";
  EXPECT_EQ(Count(o, "\x1b[H"), 2u);  // each frame starts at home...
  EXPECT_EQ(Count(o, "\x1b[J"), 2u);  // ...and clears what the last frame left below
  EXPECT_NE(o.find("emails"), std::string::npos);
  EXPECT_EQ(o.find("---"), std::string::npos);
  EXPECT_NE(o.find("(Ctrl-C quits)\x1b[K\n"), std::string::npos) << "lines cleared to their end";
  EXPECT_EQ(o.substr(o.size() - 6), "\x1b[?25h");
  EXPECT_EQ(rig.waits, (std::vector<int64_t>{250}));
}

TEST(StatsWatchTest, CtrlCEndsCleanlyWithExitZeroAndTheCursorShown) {
  Rig rig;
  rig.ctx.tty = true;
  rig.stop_after_waits = 2;
  EXPECT_EQ(rig.Run(WatchOptions{}), 0);  // count 0: until interrupted
  EXPECT_EQ(rig.fetches, 2);
  EXPECT_EQ(rig.out.str().substr(rig.out.str().size() - 6), "\x1b[?25h");
}

TEST(StatsWatchTest, AnUnreachableBrokerIsShownRetriedAndGivenUpOnWithExitThree) {
  Rig rig;
  rig.answer = [](int n) -> Result<StatsReply> {
    if (n == 1) return Reply(5, 5);  // up once between outages: the give-up timer restarts
    return MakeError(ErrorCode::kBrokerUnavailable, "no broker answered");
  };
  WatchOptions options;
  options.give_up_ms = 3000;
  EXPECT_EQ(rig.Run(options), 3);
  // Frames at 0 (down), 1 s (up), 2..5 s (down since 2 s: gives up at 5 s).
  EXPECT_EQ(rig.fetches, 6);
  EXPECT_EQ(Count(rig.out.str(), "broker unreachable: no broker answered (retrying)"), 4u);
  EXPECT_NE(rig.err.str().find("no broker answered"), std::string::npos);
}

TEST(StatsWatchTest, ARefusalEndsTheWatchAtOnce) {
  Rig rig;
  rig.answer = [](int) -> Result<StatsReply> {
    return MakeError(ErrorCode::kUnauthorized, "CURVE key refused");
  };
  EXPECT_EQ(rig.Run(WatchOptions{}), 1);
  EXPECT_EQ(rig.fetches, 1);
  EXPECT_TRUE(rig.waits.empty());
}

TEST(StatsWatchTest, JsonPrintsOneDocumentPerLineEvenOnATerminal) {
  Rig rig;
  rig.ctx.tty = true;
  rig.ctx.global.json = true;
  WatchOptions options;
  options.count = 2;
  EXPECT_EQ(rig.Run(options), 0);
  std::istringstream lines(rig.out.str());
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    auto doc = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << line;
    EXPECT_TRUE(doc.contains("queues")) << line;
    EXPECT_TRUE(doc.contains("time_ms")) << line;
    ++n;
  }
  EXPECT_EQ(n, 2);
  EXPECT_EQ(rig.out.str().find('\x1b'), std::string::npos);
}

// The watch reads time only from the Clock it is given: rates use the time that passed on
// it (however long the round trips took), the JSON lines its wall-clock time.
TEST(StatsWatchTest, TimeComesFromTheInjectedClock) {
  Rig rig;
  rig.ctx.global.json = true;
  const int64_t start = rig.clock.NowMs();
  rig.answer = [&rig](int n) {
    rig.clock.Advance(500);  // each STATS round trip takes half a second
    return Result<StatsReply>(Reply(10 * n, 8 * n));
  };
  WatchOptions options;
  options.count = 3;
  EXPECT_EQ(rig.Run(options), 0);
  // Frames start 1 s apart: the wait is shortened by the time the fetch took.
  EXPECT_EQ(rig.waits, (std::vector<int64_t>{500, 500}));
  std::istringstream lines(rig.out.str());
  std::vector<int64_t> times;
  for (std::string line; std::getline(lines, line);) {
    times.push_back(nlohmann::json::parse(line).at("time_ms").get<int64_t>());
  }
  EXPECT_EQ(times, (std::vector<int64_t>{start + 500, start + 1500, start + 2500}));
}

TEST(StatsWatchTest, RatesNeverGoNegative) {
  EXPECT_EQ(RateLine(Reply(10, 10), Reply(4, 4), 1000), "rate: 0.0 submitted/s, 0.0 finished/s");
  EXPECT_EQ(RateLine(Reply(0, 0), Reply(5, 3), 500), "rate: 10.0 submitted/s, 6.0 finished/s");
}

TEST(StatsWatchTest, FlagMistakesAreUsageErrors) {
  auto r = client::testing::RunCliInProcess({"stats", "--count", "2"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--count needs --watch"), std::string::npos) << r.err;
  r = client::testing::RunCliInProcess({"stats", "--watch", "--interval-ms", "5"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("interval-ms"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace taskmill::client::cli
