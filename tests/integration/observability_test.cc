// The HTTP listener end to end (docs/observability.md): a real redis-server, taskmill-broker
// and taskmill-worker processes; /healthz, /readyz and /metrics read over HTTP, the metrics
// page checked by promtool.

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "flow_helpers.h"
#include "support/http_get.h"
#include "support/launch.h"
#include "taskmill/shared/http_server.h"

namespace taskmill::testing {
namespace {

using Labels = std::map<std::string, std::string>;

struct Http {
  explicit Http(const std::string& bound) : address(bound) {
    size_t colon = bound.rfind(':');
    host = bound.substr(0, colon);
    port = std::stoi(bound.substr(colon + 1));
  }
  HttpAnswer Get(const std::string& path, const HttpHeaders& headers = {}) const {
    return HttpGet(address, path, headers);
  }
  int Status(const std::string& path) const { return Get(path).status; }
  std::string Metrics() const {
    auto r = Get("/metrics");
    EXPECT_TRUE(r) << "no answer from /metrics";
    if (!r) return "";
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.Header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    return r.body;
  }
  std::string address;
  std::string host;
  int port = 0;
};

// One sample line "name{k="v",...} value" split up.
struct Sample {
  std::string name;
  Labels labels;
  double value = 0;
};

std::vector<Sample> Parse(const std::string& page) {
  std::vector<Sample> out;
  std::istringstream in(page);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    size_t brace = line.find('{');
    size_t space = line.rfind(' ');
    s.name = line.substr(0, std::min(brace, space));
    if (brace != std::string::npos) {
      std::string body = line.substr(brace + 1, line.rfind('}') - brace - 1);
      size_t at = 0;
      while (at < body.size()) {
        size_t eq = body.find("=\"", at);
        size_t end = body.find('"', eq + 2);
        s.labels[body.substr(at, eq - at)] = body.substr(eq + 2, end - eq - 2);
        at = end + 2;  // past `",`
      }
    }
    s.value = std::stod(line.substr(space + 1));
    out.push_back(std::move(s));
  }
  return out;
}

// The sum over every sample of `name` whose labels include `want` (PromQL's
// sum(name{want})); nullopt when none matches.
std::optional<double> Sum(const std::string& page, const std::string& name, const Labels& want) {
  std::optional<double> total;
  for (const auto& s : Parse(page)) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : want) match = match && s.labels.count(k) && s.labels.at(k) == v;
    if (match) total = total.value_or(0) + s.value;
  }
  return total;
}

int Connect(const Http& http) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(http.port));
  inet_pton(AF_INET, http.host.c_str(), &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

// Everything the server sends until it closes (or `timeout_ms`).
std::string ReadAll(int fd, int timeout_ms) {
  std::string out;
  char buf[4096];
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string RawRequest(const Http& http, const std::string& request) {
  int fd = Connect(http);
  if (fd < 0) return "";
  (void)!send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out = ReadAll(fd, 3000);
  close(fd);
  return out;
}

int64_t RssKb(pid_t pid) {
  std::string status = ReadFile("/proc/" + std::to_string(pid) + "/status");
  size_t at = status.find("VmRSS:");
  return at == std::string::npos ? -1 : std::strtoll(status.c_str() + at + 6, nullptr, 10);
}

// promtool check metrics: exit status and what it said.
std::pair<int, std::string> PromtoolCheck(const std::string& page, const std::string& dir) {
  std::string file = dir + "/metrics.txt";
  std::ofstream(file) << page;
  std::string cmd = "promtool check metrics < '" + file + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string said;
  char buf[512];
  while (p != nullptr && fgets(buf, sizeof buf, p) != nullptr) said += buf;
  int rc = p == nullptr ? -1 : pclose(p);
  return {rc, said};
}

class ObservabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Cluster::Start({});
    ASSERT_TRUE(c.has_value()) << c.error().message;
    cluster_ = std::move(*c);
    ASSERT_NE(cluster_->http(), "off");
    http_.emplace(cluster_->http());
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_->Logs();
  }
  std::unique_ptr<Cluster> cluster_;
  std::optional<Http> http_;
};

TEST_F(ObservabilityTest, EveryEndpointAnswersAndBadRequestsGet4xx) {
  auto health = http_->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  // /readyz turns 200 once the reactor has published its first snapshot.
  ASSERT_TRUE(WaitFor([&] { return http_->Status("/readyz") == 200; }, 5000));
  EXPECT_EQ(http_->Get("/readyz").body, "ready\n");
  EXPECT_NE(http_->Metrics().find("taskmill_broker_info{"), std::string::npos);

  EXPECT_EQ(http_->Status("/nope"), 404);
  EXPECT_EQ(http_->Status("/../../etc/passwd"), 404);
  EXPECT_EQ(http_->Status("/metrics/../healthz/x"), 404);
  {
    httplib::Client c(http_->host, http_->port);
    auto post = c.Post("/metrics", "x", "text/plain");
    ASSERT_TRUE(post);
    EXPECT_EQ(post->status, 405);
    auto del = c.Delete("/healthz");
    ASSERT_TRUE(del);
    EXPECT_EQ(del->status, 405);
  }
  // A request head past 16 KiB: 431, and the listener carries on.
  auto big = http_->Get("/healthz", {{"X-Big", std::string(20000, 'a')}});
  ASSERT_TRUE(big);
  EXPECT_EQ(big.status, 431);
  EXPECT_EQ(http_->Status("/healthz"), 200);
  EXPECT_EQ(RawRequest(*http_, "NONSENSE\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);

  std::string page = http_->Metrics();
  EXPECT_GE(Sum(page, "taskmill_broker_http_requests_total", {{"code", "404"}}).value_or(0), 3);
  EXPECT_GE(Sum(page, "taskmill_broker_http_requests_total", {{"code", "405"}}).value_or(0), 2);
  EXPECT_GE(Sum(page, "taskmill_broker_http_requests_total", {{"code", "200"}}).value_or(0), 3);
  EXPECT_GE(Sum(page, "taskmill_broker_http_requests_total", {{"code", "431"}}).value_or(0), 1);
}

TEST_F(ObservabilityTest, AHeaderFloodIsCutOffAndCostsTheBrokerNoMemory) {
  int64_t rss_before = RssKb(cluster_->broker().pid());
  // Endless headers as fast as the socket takes them (what grew cpp-httplib's server by
  // 400 MB in 4 s): the listener answers 431 after 16 KiB and closes.
  int fd = Connect(*http_);
  ASSERT_GE(fd, 0);
  std::string line = "X-Flood: " + std::string(1000, 'f') + "\r\n";
  std::string first = "GET /healthz HTTP/1.1\r\n";
  size_t sent = 0;
  bool closed = false;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!closed && std::chrono::steady_clock::now() < until && sent < (64u << 20)) {
    const std::string& chunk = sent == 0 ? first : line;
    ssize_t n = send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n <= 0) closed = true;
    else sent += static_cast<size_t>(n);
  }
  EXPECT_TRUE(closed) << "still accepting after " << sent << " bytes";
  close(fd);
  EXPECT_LT(sent, 8u << 20);
  int64_t rss_after = RssKb(cluster_->broker().pid());
  EXPECT_LT(rss_after - rss_before, 16 * 1024) << rss_before << " kB -> " << rss_after << " kB";
  std::string page = http_->Metrics();
  EXPECT_GE(Sum(page, "taskmill_broker_http_requests_total", {{"code", "431"}}).value_or(0), 1);
  EXPECT_EQ(http_->Status("/healthz"), 200);
}

TEST_F(ObservabilityTest, HttpOffBindsNothingAndSaysSoInTheReadyFile) {
  BrokerLaunch l;
  l.dir = cluster_->dir() + "/off";
  std::filesystem::create_directories(l.dir);
  l.redis_url = "unix://" + cluster_->redis()->config().unix_path;
  l.prefix = "tmoff" + std::to_string(getpid()) + ":";
  l.http = "off";
  ChildProcess broker;
  auto b = LaunchBroker(l, broker, [&] { return ReadFile(l.dir + "/broker.log"); });
  ASSERT_TRUE(b.has_value()) << b.error().message;
  EXPECT_EQ(b->http, "off");
  // A second broker asking for the first one's port does not start: one clear line.
  l.dir = cluster_->dir() + "/clash";
  std::filesystem::create_directories(l.dir);
  l.http = cluster_->http();
  ChildProcess clash;
  auto c = LaunchBroker(l, clash, [&] { return ReadFile(l.dir + "/broker.log"); });
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("--http: cannot listen on " + cluster_->http()),
            std::string::npos)
      << c.error().message;
  broker.Kill9();
}

TEST(HttpServerTest, ASlowClientGets408AndOthersAreServedMeanwhile) {
  HttpServerOptions o;
  o.threads = 2;
  o.read_timeout_ms = 300;
  HttpServer server(o);
  server.Route("/x", [] { return HttpResponse{200, "text/plain", "x\n"}; });
  auto bound = server.Start({"127.0.0.1", 0});
  ASSERT_TRUE(bound) << bound.error().message;
  Http http(bound->ToString());
  int slow = Connect(http);
  ASSERT_GE(slow, 0);
  ASSERT_EQ(send(slow, "GET /x HTTP/1.1\r\n", 17, MSG_NOSIGNAL), 17);
  // One thread is held by the slow client; the other serves.
  EXPECT_EQ(http.Status("/x"), 200);
  std::string answer = ReadAll(slow, 3000);
  close(slow);
  EXPECT_EQ(answer.rfind("HTTP/1.1 408 ", 0), 0u) << answer;
  server.Stop();
}

// Slowloris: many more trickling clients than handler threads. Heads are read apart from
// the handlers, so a probe is answered at once, and every trickler still gets its 408.
TEST(HttpServerTest, ManySlowClientsNeverDelayAProbe) {
  HttpServerOptions o;
  o.threads = 2;
  o.read_timeout_ms = 2000;
  HttpServer server(o);
  server.Route("/x", [] { return HttpResponse{200, "text/plain", "x\n"}; });
  std::atomic<int> answered_408{0};
  server.OnAnswer([&](int status) { answered_408 += status == 408 ? 1 : 0; });
  auto bound = server.Start({"127.0.0.1", 0});
  ASSERT_TRUE(bound) << bound.error().message;
  Http http(bound->ToString());
  std::vector<int> slow;
  for (int i = 0; i < 20; ++i) {
    int fd = Connect(http);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(send(fd, "GET /x HTTP/1.1\r\n", 17, MSG_NOSIGNAL), 17);
    slow.push_back(fd);
  }
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(http.Status("/x"), 200);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - t0)
                .count();
  EXPECT_LT(ms, 1000) << "the probe waited behind the slow clients";
  for (int fd : slow) {
    std::string answer = ReadAll(fd, 5000);
    EXPECT_EQ(answer.rfind("HTTP/1.1 408 ", 0), 0u) << answer;
    close(fd);
  }
  EXPECT_EQ(answered_408, 20);
  server.Stop();
}

// Past max_connections the connection that has waited longest for its head is cut off
// (408), so a flood of idle connections cannot lock new clients out.
TEST(HttpServerTest, PastMaxConnectionsTheOldestSilentOneIsCutOff) {
  HttpServerOptions o;
  o.max_connections = 4;
  o.read_timeout_ms = 10000;
  HttpServer server(o);
  server.Route("/x", [] { return HttpResponse{200, "text/plain", "x\n"}; });
  auto bound = server.Start({"127.0.0.1", 0});
  ASSERT_TRUE(bound) << bound.error().message;
  Http http(bound->ToString());
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(Connect(http));
    ASSERT_GE(idle.back(), 0);  // the reader accepts in connection order
  }
  EXPECT_EQ(http.Status("/x"), 200);  // a fifth connection is served...
  std::string first = ReadAll(idle[0], 3000);  // ...by cutting off the oldest
  EXPECT_EQ(first.rfind("HTTP/1.1 408 ", 0), 0u) << first;
  for (int fd : idle) close(fd);
  server.Stop();
}

TEST_F(ObservabilityTest, MetricsCountWhatTheTasksDid) {
  ASSERT_TRUE(cluster_->StartWorker("w1", 4, "obs"));
  constexpr int kTasks = 20;
  std::vector<protocol::TaskSpec> specs;
  for (int i = 0; i < kTasks; ++i) specs.push_back(Spec("echo", "x", "obs"));
  // One task that fails once and then succeeds (a retry), one that fails for good, one
  // that reports costs.
  auto retry = Spec("fail", R"({"fail_attempts": 1})", "obs");
  retry.backoff.base_ms = 100;
  specs.push_back(retry);
  specs.push_back(Spec("fail", R"({"retryable": false})", "obs"));
  specs.push_back(Spec(
      "exec",
      R"({"argv": ["sh", "-c", "printf '{\"usd\": 0.25}' > \"$TASKMILL_COST_FILE\""]})", "obs"));
  auto ids = SubmitAll(cluster_->client(), specs);
  ASSERT_EQ(ids.size(), specs.size());
  auto done = WaitAll(cluster_->client(), ids);
  ASSERT_EQ(done.size(), ids.size());

  const int ok = kTasks + 2, attempts = kTasks + 4;
  std::string page;
  // The histograms are fed as the reactor records results, its counters published every
  // 250 ms; the queue figures are read from Redis (cached up to 1 s): wait until every
  // figure has caught up.
  Labels q = {{"queue", "obs"}};
  bool caught_up = WaitFor(
      [&] {
        page = http_->Metrics();
        return Sum(page, "taskmill_task_run_seconds_count", q) == attempts &&
               Sum(page, "taskmill_tasks_finished_total",
                   {{"queue", "obs"}, {"state", "succeeded"}}) == ok &&
               Sum(page, "taskmill_broker_tasks_dispatched_total", {}) == attempts;
      },
      10000);
  ASSERT_TRUE(caught_up) << page;
  EXPECT_EQ(Sum(page, "taskmill_tasks_submitted_total", q), kTasks + 3);
  auto finished = [&](const char* state) {
    return Sum(page, "taskmill_tasks_finished_total", {{"queue", "obs"}, {"state", state}});
  };
  EXPECT_EQ(finished("failed"), 1);
  EXPECT_EQ(finished("cancelled"), 0);
  EXPECT_EQ(Sum(page, "taskmill_task_retries_total", q), 1);
  EXPECT_EQ(Sum(page, "taskmill_stale_results_total", q), 0);
  EXPECT_EQ(Sum(page, "taskmill_task_wait_seconds_count", q), attempts);
  EXPECT_EQ(Sum(page, "taskmill_task_run_seconds_bucket", {{"queue", "obs"}, {"le", "+Inf"}}),
            attempts);
  auto usd = Sum(page, "taskmill_cost_total", {{"queue", "obs"}, {"name", "usd"}});
  EXPECT_DOUBLE_EQ(usd.value_or(-1), 0.25);
  EXPECT_EQ(Sum(page, "taskmill_queue_tasks", {{"queue", "obs"}, {"state", "ready"}}), 0);
  EXPECT_EQ(Sum(page, "taskmill_queue_tasks", {{"queue", "obs"}, {"state", "dead"}}), 1);
  EXPECT_EQ(Sum(page, "taskmill_queue_backlog", q), 0);
  EXPECT_EQ(Sum(page, "taskmill_workers", {}), 1);
  EXPECT_EQ(Sum(page, "taskmill_worker_slots", {{"state", "free"}}), 4);
  EXPECT_GT(Sum(page, "taskmill_broker_redis_roundtrip_seconds_count", {}).value_or(0), 0);
  EXPECT_GT(Sum(page, "taskmill_broker_reactor_turn_seconds_count", {}).value_or(0), 0);

  auto [rc, said] = PromtoolCheck(page, cluster_->dir());
  ASSERT_NE(rc, 127 << 8) << "promtool is missing: run scripts/setup.sh (Debian package "
                             "prometheus)";
  EXPECT_EQ(rc, 0) << said;
}

TEST_F(ObservabilityTest, ReadyzFollowsRedis) {
  ASSERT_TRUE(WaitFor([&] { return http_->Status("/readyz") == 200; }, 5000));
  cluster_->redis()->Kill9();
  ASSERT_TRUE(WaitFor([&] { return http_->Status("/readyz") == 503; }, 5000));
  auto r = http_->Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r.body.rfind("not ready: ", 0), 0u) << r.body;
  EXPECT_EQ(std::count(r.body.begin(), r.body.end(), '\n'), 1) << "one line: " << r.body;
  // Alive but not ready: the reactor still turns, and /metrics says the store is unreadable.
  EXPECT_EQ(http_->Status("/healthz"), 200);
  std::string page = http_->Metrics();
  EXPECT_EQ(Sum(page, "taskmill_broker_store_readable", {}), 0);
  EXPECT_FALSE(Sum(page, "taskmill_queue_backlog", {}).has_value());

  ASSERT_TRUE(cluster_->redis()->Restart());
  ASSERT_TRUE(WaitFor([&] { return http_->Status("/readyz") == 200; }, 10000));
  EXPECT_EQ(Sum(http_->Metrics(), "taskmill_broker_store_readable", {}), 1);
}

TEST_F(ObservabilityTest, TwoBrokersOnOneRedisExportTheSameQueueFigures) {
  BrokerLaunch l;
  l.dir = cluster_->dir() + "/b2";
  std::filesystem::create_directories(l.dir);
  l.redis_url = "unix://" + cluster_->redis()->config().unix_path;
  l.prefix = "tmc" + std::to_string(getpid()) + ":";
  ChildProcess broker2;
  auto b2 = LaunchBroker(l, broker2, [&] { return cluster_->Logs(); });
  ASSERT_TRUE(b2.has_value()) << b2.error().message;
  Http http2(b2->http);
  // One worker on each broker, so both brokers' per-broker series move.
  ASSERT_TRUE(cluster_->StartWorker("w1", 2, "two"));
  auto w2 = ChildProcess::Spawn(WorkerArgv(b2->backend, "w2", 2, "two", 200, 3),
                                l.dir + "/worker.log");
  ASSERT_TRUE(w2.has_value());
  ChildProcess worker2 = std::move(*w2);

  constexpr int kTasks = 40;
  std::vector<protocol::TaskSpec> specs;
  for (int i = 0; i < kTasks; ++i) specs.push_back(Spec("sleep", R"({"ms": 20})", "two"));
  auto ids = SubmitAll(cluster_->client(), specs);
  ASSERT_EQ(ids.size(), static_cast<size_t>(kTasks));
  // No WAIT: a WAIT on broker 1 learns of tasks finished through broker 2 only at its
  // periodic re-read; the figures below are waited for instead.

  Labels q = {{"queue", "two"}};
  std::string p1, p2;
  // sum() over brokers of the per-broker run histograms counts every attempt once.
  ASSERT_TRUE(WaitFor(
      [&] {
        p1 = http_->Metrics();
        p2 = http2.Metrics();
        return Sum(p1, "taskmill_task_run_seconds_count", q).value_or(0) +
                   Sum(p2, "taskmill_task_run_seconds_count", q).value_or(0) ==
               kTasks;
      },
      10000))
      << p1 << p2;
  EXPECT_GT(Sum(p1, "taskmill_task_run_seconds_count", q).value_or(0), 0);
  EXPECT_GT(Sum(p2, "taskmill_task_run_seconds_count", q).value_or(0), 0);
  // The queue-wide series are the same on both (max() over brokers is the figure).
  ASSERT_TRUE(WaitFor(
      [&] {
        p1 = http_->Metrics();
        p2 = http2.Metrics();
        Labels ok = {{"queue", "two"}, {"state", "succeeded"}};
        return Sum(p1, "taskmill_tasks_finished_total", ok) == kTasks &&
               Sum(p2, "taskmill_tasks_finished_total", ok) == kTasks;
      },
      5000));
  for (const char* name : {"taskmill_queue_tasks", "taskmill_queue_backlog",
                           "taskmill_tasks_submitted_total", "taskmill_tasks_finished_total"}) {
    for (const auto& s : Parse(p1)) {
      if (s.name != name || s.labels.at("queue") != "two") continue;
      EXPECT_FALSE(s.labels.count("broker")) << name << " is queue-wide";
      Labels want(s.labels.begin(), s.labels.end());
      EXPECT_EQ(Sum(p2, name, want), s.value) << name;
    }
  }
  EXPECT_EQ(Sum(p1, "taskmill_tasks_submitted_total", q), kTasks);
  // Per-broker series carry distinct broker labels; sum() of the workers gauge is 2.
  auto broker_name = [](const std::string& page) {
    for (const auto& s : Parse(page)) {
      if (s.name == "taskmill_broker_info") return s.labels.at("broker");
    }
    return std::string();
  };
  EXPECT_NE(broker_name(p1), "");
  EXPECT_NE(broker_name(p1), broker_name(p2));
  ASSERT_TRUE(WaitFor(
      [&] {
        return Sum(http_->Metrics(), "taskmill_workers", {}).value_or(0) +
                   Sum(http2.Metrics(), "taskmill_workers", {}).value_or(0) ==
               2;
      },
      5000));
  worker2.Kill9();
  broker2.Kill9();
}

TEST_F(ObservabilityTest, WorkerServesItsOwnHealthAndMetrics) {
  auto w = cluster_->StartWorker("wh", 3, "wq", {"--http", "127.0.0.1:0"});
  ASSERT_TRUE(w);
  // The worker logs the address it bound.
  std::string log_path = cluster_->dir() + "/worker-wh.log", address;
  const std::string mark = "HTTP (/healthz /readyz /metrics) on ";
  ASSERT_TRUE(WaitFor(
      [&] {
        std::string log = ReadFile(log_path);
        size_t at = log.find(mark);
        if (at == std::string::npos) return false;
        address = log.substr(at + mark.size(), log.find('\n', at) - at - mark.size());
        return true;
      },
      5000));
  Http worker(address);
  EXPECT_EQ(worker.Status("/healthz"), 200);
  ASSERT_TRUE(WaitFor([&] { return worker.Status("/readyz") == 200; }, 5000));
  EXPECT_EQ(worker.Status("/nope"), 404);

  constexpr int kTasks = 5;
  std::vector<protocol::TaskSpec> specs;
  for (int i = 0; i < kTasks; ++i) specs.push_back(Spec("sleep", R"({"ms": 10})", "wq"));
  auto ids = SubmitAll(cluster_->client(), specs);
  ASSERT_EQ(WaitAll(cluster_->client(), ids).size(), static_cast<size_t>(kTasks));
  std::string page;
  ASSERT_TRUE(WaitFor(
      [&] {
        page = worker.Metrics();
        return Sum(page, "taskmill_worker_attempts_total", {{"worker", "wh"}}) == kTasks;
      },
      5000))
      << page;
  EXPECT_EQ(Sum(page, "taskmill_worker_handler_seconds_count", {{"worker", "wh"}}), kTasks);
  // Every attempt slept 10 ms.
  EXPECT_GE(Sum(page, "taskmill_worker_handler_seconds_sum", {}).value_or(0), kTasks * 0.01);
  EXPECT_EQ(Sum(page, "taskmill_worker_executor_slots", {{"state", "free"}}), 3);
  EXPECT_EQ(Sum(page, "taskmill_worker_registered", {}), 1);
  auto [rc, said] = PromtoolCheck(page, cluster_->dir());
  EXPECT_EQ(rc, 0) << said;

  // No broker: not ready (yet alive); the broker back: ready again.
  cluster_->broker().Kill9();
  ASSERT_TRUE(WaitFor([&] { return worker.Status("/readyz") == 503; }, 5000));
  EXPECT_EQ(worker.Get("/readyz").body, "not ready: not registered with a broker\n");
  EXPECT_EQ(worker.Status("/healthz"), 200);
  ASSERT_TRUE(cluster_->StartBroker());
  ASSERT_TRUE(WaitFor([&] { return worker.Status("/readyz") == 200; }, 10000));
}

}  // namespace
}  // namespace taskmill::testing
