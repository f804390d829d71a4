// Hostile input against a live broker: malformed messages on both of its sockets (the
// fuzz corpus's hostile entries, random bytes, wrong types, wrong frame counts, unknown
// commands and versions), frames over --max-frame-bytes, and a few hundred raw TCP
// connections that never finish the ZMTP handshake, all while a healthy client keeps
// submitting. The broker must stay up, refuse and count the bad input, drop the
// half-open connections, keep its memory bounded and serve the healthy client with its
// usual latency. The figures are printed as a HOSTILE line (docs/reliability.md).

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <random>
#include <thread>
#include <utility>

#include "chaos/harness.h"
#include "chaos/healthy_client.h"
#include "taskmill/shared/protocol/codec.h"
#include "test_paths.h"  // TASKMILL_SOURCE_DIR, TASKMILL_BUILD_DIR

namespace taskmill::chaos {
namespace {

using protocol::TaskState;
using taskmill::testing::ReadFile;
using taskmill::testing::WireClient;

constexpr uint64_t kMaxFrameBytes = 80 * 1024;  // >= the 1 KiB caps + 64 KiB
constexpr int kHalfOpenPerSocket = 150;
constexpr int64_t kFloodMs = 3000;
constexpr size_t kMaxHostilePerSocket = 15000;  // bound on the flood, whatever the timing

using Frames = std::vector<std::string>;

// Splits bytes the way the fuzz target does: version (3 bytes), command (1), body.
Frames SplitLikeTheFuzzer(const std::string& in) {
  return {in.substr(0, 3), in.substr(std::min<size_t>(in.size(), 3), 1),
          in.substr(std::min<size_t>(in.size(), 4))};
}

std::string Cmd(protocol::Command c) { return std::string(1, static_cast<char>(c)); }

// Every malformed message the flood cycles through.
std::vector<Frames> HostileMessages() {
  std::vector<Frames> out;
  for (const auto& f :
       std::filesystem::directory_iterator(TASKMILL_SOURCE_DIR "/tests/fuzz/corpus")) {
    if (f.path().filename().string().rfind("hostile_", 0) == 0) {
      out.push_back(SplitLikeTheFuzzer(ReadFile(f.path().string())));
    }
  }
  const std::string v = "TM1";
  const auto submit = protocol::Command::kSubmit;
  // Wrong types: tasks as a string, req_id as a string, a map keyed by an integer.
  out.push_back({v, Cmd(submit), "\x81\xa5tasks\xa4nope"});
  out.push_back({v, Cmd(submit), "\x81\xa6req_id\xa1x"});
  out.push_back({v, Cmd(submit), std::string("\x81\x01\x02", 3)});
  out.push_back({v, Cmd(protocol::Command::kDone), "\x81\xa7task_id\x92\x01\x02"});
  out.push_back({v, Cmd(protocol::Command::kReady), "\x81\xa9worker_id\xc0"});
  // Huge declared sizes with nothing behind them.
  out.push_back({v, Cmd(submit), "\x81\xa5tasks\xdd\xff\xff\xff\xff"});
  out.push_back({v, Cmd(submit), "\xdf\xff\xff\xff\xff"});
  out.push_back({v, Cmd(submit), "\x81\xa5tasks\x91\xdb\xff\xff\xff\xf0"});
  // Deep nesting far past the limit.
  out.push_back({v, Cmd(submit), std::string(5000, '\x91') + "\xc0"});
  // Unknown command, wrong version, wrong frame counts, empty frames.
  out.push_back({v, "\x7f", "\x80"});
  out.push_back({"TM2", Cmd(submit), "\x80"});
  out.push_back({"", "", ""});
  out.push_back({v});
  out.push_back({v, Cmd(submit)});
  out.push_back({v, Cmd(submit), "\x80", "\x80", "\x80"});
  out.push_back({v, "\x01\x01", "\x80"});
  // Truncations of a valid SUBMIT.
  protocol::Submit s;
  s.tasks = {protocol::TaskSpec{}};
  s.tasks[0].type = "echo";
  s.tasks[0].payload = "hello";
  auto valid = protocol::Encode(protocol::Message{s});
  for (size_t n : {1ul, valid.body.size() / 2, valid.body.size() - 1}) {
    out.push_back({valid.version, valid.command, valid.body.substr(0, n)});
  }
  // Random bytes: a random command byte and body, and whole random frames.
  std::mt19937 rng(7);
  auto random_bytes = [&](size_t max_len) {
    std::string b(rng() % (max_len + 1), '\0');
    for (auto& c : b) c = static_cast<char>(rng());
    return b;
  };
  for (int i = 0; i < 40; ++i)
    out.push_back({v, std::string(1, static_cast<char>(rng())), random_bytes(300)});
  for (int i = 0; i < 20; ++i) out.push_back({random_bytes(8), random_bytes(2), random_bytes(64)});
  return out;
}

// Would the broker's decoder refuse it? (It refuses more than this: commands sent to the
// wrong socket, invalid names. This is the lower bound the counter must reach.)
bool DecoderRefuses(const Frames& frames) {
  std::vector<std::string_view> views(frames.begin(), frames.end());
  return !protocol::Decode(views, {.max_frame_bytes = kMaxFrameBytes}).has_value();
}

// A raw TCP connection to 127.0.0.1:port that never finishes the ZMTP handshake: it sends
// nothing, or the first bytes of a greeting, and then stalls. Closed by the destructor.
struct HalfOpen {
  int fd = -1;
  explicit HalfOpen(uint16_t port, bool partial_greeting) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close(fd);
      fd = -1;
    }
    if (fd >= 0 && partial_greeting) (void)!send(fd, "\xff\0\0\0\0", 5, MSG_NOSIGNAL);
  }
  HalfOpen(HalfOpen&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  ~HalfOpen() {
    if (fd >= 0) close(fd);
  }
  // True once the broker has closed it (EOF or reset); reads what the broker sent.
  bool ClosedByPeer() const {
    pollfd p{fd, POLLIN, 0};
    char buf[256];
    while (poll(&p, 1, 0) > 0) {
      ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) return n == 0 || errno != EAGAIN;
    }
    return false;
  }
};

uint16_t PortOf(const std::string& endpoint) {
  return static_cast<uint16_t>(std::stoi(endpoint.substr(endpoint.rfind(':') + 1)));
}

TEST(HostileInputTest, BrokerRefusesCountsAndKeepsServing) {
  ChaosCluster::Options o;
  // A small frame cap (so over-size frames are cheap to send) needs small payload and
  // output caps: the broker refuses a frame cap that cannot carry them.
  o.broker_args = {"--max-frame-bytes",   std::to_string(kMaxFrameBytes),
                   "--max-payload-bytes", "1024",
                   "--max-output-bytes",  "1024"};
  auto started = ChaosCluster::Start("hostile", o);
  ASSERT_TRUE(started.has_value()) << started.error().message;
  auto& cluster = **started;
  ASSERT_TRUE(cluster.StartWorker("w0", 4));
  ASSERT_TRUE(cluster.StartWorker("w1", 4));
  pid_t broker = cluster.broker().pid();

  HealthyClient healthy(cluster.frontend(), cluster.queue());
  ASSERT_TRUE(
      WaitFor([&] { return healthy.client.Call(protocol::Stats{}, 2000).has_value(); }, 10000));
  auto baseline = healthy.Run("base", 1500, 150);
  ASSERT_GT(baseline.size(), 20u);
  int64_t rss_before = RssKib(broker);
  int64_t bad_before = std::max<int64_t>(0, LastCounter(cluster.BrokerLog(), "bad_frames"));

  // The flood runs on its own thread while the healthy client measures.
  const auto hostile = HostileMessages();
  std::atomic<size_t> sent{0}, expected_refusals{0}, oversize{0}, error_replies{0};
  std::atomic<int64_t> rss_peak{rss_before}, flood_ms{0};
  std::atomic<bool> flood_over{false};
  std::vector<HalfOpen> half_open;
  std::thread flood([&] {
    WireClient front(cluster.frontend());
    WireClient back(cluster.backend());
    WireClient big_front(cluster.frontend());
    WireClient big_back(cluster.backend());
    for (int i = 0; i < kHalfOpenPerSocket; ++i) {
      half_open.emplace_back(PortOf(cluster.frontend()), i % 2 == 0);
      half_open.emplace_back(PortOf(cluster.backend()), i % 2 == 1);
    }
    const std::string huge(kMaxFrameBytes + 1, '\x90');
    auto start = std::chrono::steady_clock::now();
    auto end = start + std::chrono::milliseconds(kFloodMs);
    for (size_t i = 0; i < kMaxHostilePerSocket && std::chrono::steady_clock::now() < end; ++i) {
      const Frames& m = hostile[i % hostile.size()];
      front.SendRaw(m);
      back.SendRaw(m);
      sent += 2;
      if (DecoderRefuses(m)) expected_refusals += 2;
      if (i % 200 == 0) {  // over --max-frame-bytes: libzmq drops the peer, which reconnects
        big_front.SendRaw({"TM1", Cmd(protocol::Command::kSubmit), huge});
        big_back.SendRaw({"TM1", Cmd(protocol::Command::kHeartbeat), huge});
        oversize += 2;
        rss_peak = std::max<int64_t>(rss_peak, RssKib(broker));
      }
      // The frontend answers every refused message with an error; read what has come.
      while (auto r = front.Receive(0)) {
        if (auto* reply = std::get_if<protocol::Reply>(&*r); reply && reply->error) ++error_replies;
      }
      if (i % 10 == 9) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // pacing
    }
    flood_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - start)
                   .count();
    flood_over = true;
    // Collect the last error replies (bounded).
    WaitFor(
        [&] {
          while (auto r = front.Receive(0)) {
            if (auto* reply = std::get_if<protocol::Reply>(&*r); reply && reply->error)
              ++error_replies;
          }
          return error_replies * 2 >= expected_refusals;
        },
        5000);
  });
  // Measured only while the flood lasts.
  auto during = healthy.Run("flood", kFloodMs, 400, &flood_over);
  flood.join();

  // The broker is alive and counted at least every message its decoder must refuse.
  ASSERT_TRUE(cluster.broker().Running()) << cluster.Logs();
  EXPECT_TRUE(WaitFor(
      [&] {
        return LastCounter(cluster.BrokerLog(), "bad_frames") - bad_before >=
               static_cast<int64_t>(expected_refusals);
      },
      5000))
      << "bad_frames rose by " << LastCounter(cluster.BrokerLog(), "bad_frames") - bad_before
      << ", expected at least " << expected_refusals;
  EXPECT_GE(error_replies * 2, expected_refusals.load())
      << "frontend refusals without an error reply";
  // Every half-open connection is dropped once its handshake time (2 s) is up.
  size_t dropped = 0;
  EXPECT_TRUE(WaitFor(
      [&] {
        dropped = 0;
        for (const auto& h : half_open) dropped += h.fd < 0 || h.ClosedByPeer() ? 1 : 0;
        return dropped == half_open.size();
      },
      15000))
      << dropped << " of " << half_open.size() << " half-open connections dropped";
  int64_t rss_after = RssKib(broker);
  rss_peak = std::max<int64_t>(rss_peak, rss_after);
  half_open.clear();

  // The healthy client's tasks all succeeded, at its usual latency.
  EXPECT_EQ(healthy.failures, 0u);
  std::vector<std::string> ids = healthy.ids;
  size_t succeeded = 0;
  EXPECT_TRUE(WaitFor(
      [&] {
        succeeded = 0;
        for (size_t i = 0; i < ids.size(); i += 200) {
          protocol::Get g;
          g.ids.assign(ids.begin() + i, ids.begin() + std::min(ids.size(), i + 200));
          auto r = healthy.client.Call(g, 5000);
          if (!r || r->error) return false;
          for (const auto& t : r->tasks) succeeded += t.state == TaskState::kSucceeded ? 1 : 0;
        }
        return succeeded == ids.size();
      },
      20000))
      << succeeded << " of " << ids.size() << " healthy tasks succeeded";
  int64_t p50_base = Percentile(baseline, 0.5), p50_flood = Percentile(during, 0.5);
  // Generous: 5x the baseline, and never below 5 ms (a sub-millisecond baseline on a shared
  // two-core machine makes 5x meaningless). The measured figures go in reliability.md.
  EXPECT_LE(p50_flood, std::max<int64_t>(5 * p50_base, 5000))
      << "healthy p50 " << p50_flood << " us under the flood vs " << p50_base << " us";
  EXPECT_LT(rss_peak - rss_before, 64 * 1024)
      << "broker RSS grew by " << rss_peak - rss_before << " KiB";
  std::cout << "HOSTILE sent=" << sent << " flood_ms=" << flood_ms << " oversize=" << oversize
            << " half_open=" << 2 * kHalfOpenPerSocket << " decoder_refusals=" << expected_refusals
            << " bad_frames_counted=" << LastCounter(cluster.BrokerLog(), "bad_frames") - bad_before
            << " error_replies=" << error_replies << " healthy_calls=" << during.size()
            << " p50_base_us=" << p50_base << " p99_base_us=" << Percentile(baseline, 0.99)
            << " p50_flood_us=" << p50_flood << " p99_flood_us=" << Percentile(during, 0.99)
            << " rss_before_kib=" << rss_before << " rss_peak_kib=" << rss_peak
            << " rss_after_kib=" << rss_after << std::endl;
  if (HasFailure()) std::cerr << cluster.Logs();
}

}  // namespace
}  // namespace taskmill::chaos
