#include "cli/stats_watch.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <ostream>
#include <sstream>

#include "cli/json_convert.h"
#include "cli/render.h"

namespace taskmill::client::cli {
namespace {

constexpr const char* kHideCursor = "\x1b[?25l";
constexpr const char* kShowCursor = "\x1b[?25h";
constexpr const char* kClearScreen = "\x1b[2J";
constexpr const char* kHome = "\x1b[H";
constexpr const char* kClearLine = "\x1b[K";   // to the end of the line
constexpr const char* kClearBelow = "\x1b[J";  // to the end of the screen

uint64_t Finished(const StatsReply& s) {
  uint64_t n = 0;
  for (const auto& q : s.queues) n += q.succeeded + q.failed + q.cancelled;
  return n;
}

uint64_t Submitted(const StatsReply& s) {
  uint64_t n = 0;
  for (const auto& q : s.queues) n += q.submitted;
  return n;
}

// Draws `text` over the previous frame: each line cleared to its end, the rest of the
// screen cleared below, so a shorter frame leaves nothing of the last one.
std::string OverDraw(const std::string& text) {
  std::string s = kHome;
  for (char c : text) {
    if (c == '\n') s += kClearLine;
    s += c;
  }
  return s + kClearBelow;
}

// The self-pipe the signal handler writes to; the wait polls its read end.
int g_signal_pipe[2] = {-1, -1};

void OnSignal(int) {
  char c = 'x';
  ssize_t ignored = write(g_signal_pipe[1], &c, 1);  // async-signal-safe
  (void)ignored;
}

}  // namespace

std::string RateLine(const StatsReply& before, const StatsReply& after, int64_t elapsed_ms) {
  double seconds = static_cast<double>(elapsed_ms > 0 ? elapsed_ms : 1) / 1000.0;
  auto per_second = [&](uint64_t a, uint64_t b) {
    // Counters only grow; a smaller figure means another broker or a reset: show 0.
    double d = b >= a ? static_cast<double>(b - a) : 0.0;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", d / seconds);
    return std::string(buf);
  };
  return "rate: " + per_second(Submitted(before), Submitted(after)) + " submitted/s, " +
         per_second(Finished(before), Finished(after)) + " finished/s";
}

int WatchStats(Context& ctx, const WatchOptions& options, const StatsFetch& fetch,
               const WatchWait& wait, const Clock& clock) {
  const bool draw = ctx.tty && !ctx.global.json;
  if (draw) ctx.out << kHideCursor << kClearScreen << std::flush;
  std::optional<StatsReply> last;
  int64_t last_ms = 0;
  int64_t unreachable_since = -1;
  int code = kExitOk;
  for (uint32_t frame = 1; options.count == 0 || frame <= options.count; ++frame) {
    int64_t start = clock.MonotonicMs();
    auto stats = fetch();
    if (!stats && ExitCodeFor(stats.error()) != kExitUnreachable) {
      code = ReportError(ctx, stats.error());
      break;
    }
    if (!stats) {
      if (unreachable_since < 0) unreachable_since = start;
      if (start - unreachable_since >= options.give_up_ms) {
        code = ReportError(ctx, stats.error());
        break;
      }
    } else {
      unreachable_since = -1;
    }

    if (ctx.global.json) {
      if (stats) {
        auto doc = ToJson(*stats);
        doc["time_ms"] = clock.NowMs();
        ctx.out << doc.dump() << '\n' << std::flush;
      }
      // An unreachable broker prints nothing on stdout: each line stays a stats document.
      if (!stats) ctx.err << "taskmill: " << stats.error().message << " (retrying)\n";
    } else {
      std::ostringstream f;
      f << (draw ? "" : "--- ") << "taskmill stats  " << FormatTime(clock.NowMs())
        << "  every " << FormatDurationMs(options.interval_ms) << "  frame " << frame
        << (draw ? "  (Ctrl-C quits)" : "") << '\n';
      if (stats) {
        f << (last ? RateLine(*last, *stats, start - last_ms) : std::string("rate: -")) << "\n\n";
        PrintStats(f, *stats);
      } else {
        f << "broker unreachable: " << stats.error().message << " (retrying)\n";
      }
      ctx.out << (draw ? OverDraw(f.str()) : f.str() + "\n") << std::flush;
    }
    if (stats) {
      last = std::move(*stats);
      last_ms = start;
    }
    if (options.count != 0 && frame == options.count) break;
    int64_t next = start + options.interval_ms;
    if (!wait(std::max<int64_t>(0, next - clock.MonotonicMs()))) break;
  }
  if (draw) ctx.out << kShowCursor << std::flush;
  return code;
}

int RunStatsWatch(Context& ctx, const WatchOptions& options, const StatsFetch& fetch) {
  if (pipe(g_signal_pipe) != 0) {
    ctx.err << "taskmill: stats --watch: pipe failed\n";
    return kExitFailed;
  }
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;  // a second Ctrl-C kills at once
  struct sigaction old_int {}, old_term {};
  sigaction(SIGINT, &action, &old_int);
  sigaction(SIGTERM, &action, &old_term);

  const Clock& clock = SystemClock::Instance();
  auto wait = [&clock](int64_t ms) {
    const int64_t deadline = clock.MonotonicMs() + ms;
    for (;;) {
      pollfd p{g_signal_pipe[0], POLLIN, 0};
      int64_t left = std::max<int64_t>(0, deadline - clock.MonotonicMs());
      int n = poll(&p, 1, static_cast<int>(left));
      if (n > 0) return false;  // a signal arrived
      if (n == 0) return true;  // the interval passed
      if (errno != EINTR) return true;
    }
  };
  // A signal during a STATS round trip is seen by the next wait (the pipe stays readable).
  int code = WatchStats(ctx, options, fetch, wait, clock);

  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  close(g_signal_pipe[0]);
  close(g_signal_pipe[1]);
  g_signal_pipe[0] = g_signal_pipe[1] = -1;
  return code;
}

}  // namespace taskmill::client::cli
