// The one handling of traffic on the wrong port (service/wrong_port.h), for both ports:
// the peer's REPLY names the other endpoint, every message is counted, warnings are
// rate-limited per port. Fake clock; no sockets.

#include "service/wrong_port.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <sstream>

#include "taskmill/shared/log.h"

namespace taskmill::broker {
namespace {

TEST(WrongPortGuardTest, AClientRequestOnTheWorkerPortIsAnsweredWithTheClientEndpoint) {
  BrokerCounters counters;
  FakeClock clock;
  WrongPortGuard guard(BrokerPort::kWorker, counters, clock);
  auto reply = guard.Refuse("SUBMIT", 42, "tcp://127.0.0.1:5555");
  EXPECT_EQ(reply.req_id, 42u);  // the client's call fails at once instead of timing out
  ASSERT_TRUE(reply.error);
  EXPECT_EQ(reply.error->code, "unknown_command");
  EXPECT_EQ(reply.error->message,
            "SUBMIT is a client request, but this is the broker's worker port; clients "
            "connect to tcp://127.0.0.1:5555 (TASKMILL_BROKER or --broker)");
  EXPECT_EQ(counters.wrong_port, 1u);
  EXPECT_EQ(counters.bad_frames, 1u);
}

TEST(WrongPortGuardTest, AWorkerMessageOnTheClientPortIsAnsweredWithTheWorkerEndpoint) {
  BrokerCounters counters;
  FakeClock clock;
  WrongPortGuard guard(BrokerPort::kClient, counters, clock);
  auto reply = guard.Refuse("READY", 0, "tcp://127.0.0.1:5556");
  EXPECT_EQ(reply.req_id, 0u);
  ASSERT_TRUE(reply.error);
  EXPECT_EQ(reply.error->code, "unknown_command");
  EXPECT_EQ(reply.error->message,
            "READY is a worker message, but this is the broker's client port; workers "
            "connect to tcp://127.0.0.1:5556 (TASKMILL_WORKER_BROKER or --broker)");
  EXPECT_TRUE(reply.ids.empty());
  EXPECT_EQ(counters.wrong_port, 1u);
}

// Every message is counted and answered, warned about or not.
TEST(WrongPortGuardTest, EveryMessageIsCountedAndAnsweredWhileWarningsAreHeldBack) {
  BrokerCounters counters;
  FakeClock clock;
  WrongPortGuard client_port(BrokerPort::kClient, counters, clock, 1000);
  WrongPortGuard worker_port(BrokerPort::kWorker, counters, clock, 1000);
  for (int i = 0; i < 50; ++i) {
    EXPECT_TRUE(client_port.Refuse("HEARTBEAT", 0, "tcp://w").error);
    EXPECT_TRUE(worker_port.Refuse("GET", static_cast<uint64_t>(i + 1), "tcp://c").error);
    clock.Advance(30);
  }
  EXPECT_EQ(counters.wrong_port, 100u);
  EXPECT_EQ(counters.bad_frames, 100u);
}

// What one port's guard logs, captured for the test's lifetime.
class CapturedLog {
 public:
  explicit CapturedLog(const std::string& name) : name_(name) {
    sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(text_);
    sink_->set_pattern("%v");
    Logger(name_)->sinks().push_back(sink_);
  }
  ~CapturedLog() {
    auto& sinks = Logger(name_)->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  std::vector<std::string> Lines() const {
    std::vector<std::string> lines;
    std::istringstream in(text_.str());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

 private:
  std::string name_;
  std::ostringstream text_;
  spdlog::sink_ptr sink_;
};

TEST(WrongPortGuardTest, EachPortWarnsAtMostOncePerIntervalAndSaysHowManyItHeldBack) {
  CapturedLog clients("broker.clients"), workers("broker.workers");
  BrokerCounters counters;
  FakeClock clock;
  WrongPortGuard client_port(BrokerPort::kClient, counters, clock, 1000);
  WrongPortGuard worker_port(BrokerPort::kWorker, counters, clock, 1000);
  for (int i = 0; i < 5; ++i) client_port.Refuse("READY", 0, "tcp://w");  // 1 logged, 4 held
  worker_port.Refuse("SUBMIT", 1, "tcp://c");  // the other port has its own interval
  clock.Advance(999);
  client_port.Refuse("READY", 0, "tcp://w");  // still held back (5th)
  clock.Advance(1);
  client_port.Refuse("READY", 0, "tcp://w");
  auto c = clients.Lines();
  ASSERT_EQ(c.size(), 2u) << ::testing::PrintToString(c);
  EXPECT_EQ(c[0].rfind("a worker is talking to the client port: READY is a worker message", 0),
            0u)
      << c[0];
  EXPECT_EQ(c[0].find("more since the last warning"), std::string::npos) << c[0];
  EXPECT_NE(c[1].find("(5 more since the last warning)"), std::string::npos) << c[1];
  auto w = workers.Lines();
  ASSERT_EQ(w.size(), 1u) << ::testing::PrintToString(w);
  EXPECT_EQ(w[0].rfind("a client is talking to the worker port: SUBMIT is a client request", 0),
            0u)
      << w[0];
}

}  // namespace
}  // namespace taskmill::broker
