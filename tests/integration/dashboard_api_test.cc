// The dashboard's /api end to end (docs/http-api.md): a real redis-server, taskmill-broker
// and taskmill-worker; tasks and a batch submitted over the wire, read back over HTTP;
// dead letters retried and purged, tasks cancelled, with and without the tokens.

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "flow_helpers.h"
#include "support/http_get.h"
#include "support/launch.h"

namespace taskmill::testing {
namespace {

using nlohmann::json;

constexpr const char* kAdmin = "admin-token-for-the-api-test-0001";
constexpr const char* kRead = "read-token-for-the-api-test-00002";

struct Answer {
  int status = -1;
  json body;
  std::string text;
};

class Api {
 public:
  explicit Api(const std::string& address) : address_(address) {
    size_t colon = address.rfind(':');
    host_ = address.substr(0, colon);
    port_ = std::stoi(address.substr(colon + 1));
  }
  Answer Get(const std::string& path, const std::string& token = "") const {
    HttpHeaders headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    auto r = HttpGet(address_, path, headers);
    Answer a;
    a.status = r.status;
    a.text = std::move(r.body);
    a.body = json::parse(a.text, nullptr, false);
    return a;
  }
  Answer Post(const std::string& path, const std::string& body,
              const std::string& token = "") const {
    httplib::Client c(host_, port_);
    c.set_read_timeout(5);
    return Wrap(c.Post(path.c_str(), Auth(token), body, "application/json"));
  }
  // The ids of the dead-letter list.
  std::vector<std::string> DeadIds(const std::string& token = "") const {
    std::vector<std::string> ids;
    auto a = Get("/api/dead?limit=200", token);
    if (a.status != 200) return ids;
    for (const auto& t : a.body["dead"]) ids.push_back(t["id"]);
    return ids;
  }

 private:
  static httplib::Headers Auth(const std::string& token) {
    if (token.empty()) return {};
    return {{"Authorization", "Bearer " + token}};
  }
  static Answer Wrap(const httplib::Result& r) {
    Answer a;
    if (!r) return a;
    a.status = r->status;
    a.text = r->body;
    a.body = json::parse(r->body, nullptr, false);
    return a;
  }
  std::string address_;
  std::string host_;
  int port_ = 0;
};

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// An exec task that fails (exit 3, a line on stderr) the first time it runs and succeeds
// after: a dead letter a retry can bring back.
protocol::TaskSpec FlakyTask(const std::string& marker) {
  auto s = Spec("exec", R"({"argv": ["sh", "-c", "test -e )" + marker + " || { touch " + marker +
                            R"(; echo first run fails >&2; exit 3; }"]})");
  s.max_attempts = 1;
  return s;
}

double RefusedCount(const std::string& page, const std::string& reason) {
  std::string key = "taskmill_broker_http_refused_total{";
  double total = 0;
  for (size_t at = page.find(key); at != std::string::npos; at = page.find(key, at + 1)) {
    size_t eol = page.find('\n', at);
    std::string line = page.substr(at, eol - at);
    if (line.find("reason=\"" + reason + "\"") == std::string::npos) continue;
    total += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return total;
}

class DashboardApiTest : public ::testing::Test {
 protected:
  void Boot(bool tokens) {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "taskmill-api-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    Cluster::Options o;
    if (tokens) {
      std::ofstream(dir_ + "/admin.token") << kAdmin << "\n";
      std::ofstream(dir_ + "/read.token") << "  " << kRead << "\n";
      o.broker_args = {"--http-token-file", dir_ + "/admin.token", "--http-read-token-file",
                       dir_ + "/read.token"};
    }
    auto c = Cluster::Start(o);
    ASSERT_TRUE(c.has_value()) << c.error().message;
    cluster_ = std::move(*c);
    ASSERT_TRUE(cluster_->StartWorker("api-w1", 4, "default,mail"));
    api_.emplace(cluster_->http());
  }
  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << cluster_->Logs();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  // A dead letter from FlakyTask, once it is in the list.
  std::string DeadFlaky(const std::string& name, const std::string& token = "") {
    std::string id = SubmitOne(cluster_->client(), FlakyTask(dir_ + "/" + name));
    EXPECT_TRUE(WaitFor([&] { return Contains(api_->DeadIds(token), id); }, 15000));
    return id;
  }

  std::string dir_;
  std::unique_ptr<Cluster> cluster_;
  std::optional<Api> api_;
};

TEST_F(DashboardApiTest, EveryReadEndpointShowsWhatRan) {
  Boot(false);
  auto& client = cluster_->client();
  std::vector<std::string> ids = SubmitAll(client, {Spec("echo", R"({"n": 1})", "mail"),
                                                    Spec("echo", R"({"n": 2})", "mail")});
  ASSERT_EQ(ids.size(), 2u);
  protocol::Batch batch;
  auto first = Spec("echo", R"({"step": "a"})");
  first.name = "a";
  auto second = Spec("echo", R"({"step": "b"})");
  second.name = "b";
  second.depends_on = {"a"};
  batch.batch.tasks = {first, second};
  batch.batch.budget = {{"usd", 5}};
  auto submitted = client.Call(batch);
  ASSERT_TRUE(submitted && submitted->batch) << (submitted ? "" : submitted.error().message);
  std::string batch_id = submitted->batch->id;
  std::string a = submitted->batch->tasks.at("a"), b = submitted->batch->tasks.at("b");
  WaitAll(client, {ids[0], ids[1], a, b});
  std::string dead = DeadFlaky("flaky");

  // Overview: every queue with depths and counters, totals, the chart's samples.
  auto o = api_->Get("/api/overview");
  ASSERT_EQ(o.status, 200) << o.text;
  json mail;
  for (const auto& q : o.body["queues"]) {
    if (q["queue"] == "mail") mail = q;
  }
  ASSERT_FALSE(mail.is_null()) << o.text;
  EXPECT_EQ(mail["submitted"], 2);
  EXPECT_EQ(mail["succeeded"], 2);
  EXPECT_GE(o.body["totals"]["submitted"].get<int>(), 5);
  EXPECT_EQ(o.body["totals"]["dead"], 1);
  EXPECT_GE(o.body["history"].size(), 1u);
  // Paged: one queue per page, then the next.
  auto page = api_->Get("/api/overview?limit=1");
  ASSERT_EQ(page.body["queues"].size(), 1u);
  auto next = api_->Get("/api/overview?limit=1&after=" + page.body["next_after"].get<std::string>());
  ASSERT_EQ(next.body["queues"].size(), 1u);
  EXPECT_NE(next.body["queues"][0]["queue"], page.body["queues"][0]["queue"]);

  // Workers: from the reactor's snapshot (published every 250 ms).
  ASSERT_TRUE(WaitFor([&] { return api_->Get("/api/workers").body["total"] == 1; }, 3000));
  auto w = api_->Get("/api/workers").body["workers"][0];
  EXPECT_EQ(w["id"], "api-w1");
  EXPECT_EQ(w["slots"], 4);
  EXPECT_LT(w["last_heartbeat_ms_ago"].get<int64_t>(), 5000);

  // Batches: the recent one with its counts and budget; the batch with its DAG edges.
  auto bs = api_->Get("/api/batches");
  ASSERT_EQ(bs.status, 200);
  ASSERT_GE(bs.body["batches"].size(), 1u);
  EXPECT_EQ(bs.body["batches"][0]["id"], batch_id);
  EXPECT_EQ(bs.body["batches"][0]["counts"]["succeeded"], 2);
  EXPECT_EQ(bs.body["batches"][0]["budget"]["usd"], 5.0);
  EXPECT_EQ(bs.body["batches"][0]["on_failure"], "cancel_dependents");  // issue 22
  EXPECT_EQ(bs.body["batches"][0]["finally_id"], "");
  // Every stored batch (LIST of batches): the same one, by state too.
  auto all = api_->Get("/api/batches/all?state=succeeded&limit=10");
  ASSERT_EQ(all.status, 200) << all.text;
  ASSERT_EQ(all.body["batches"].size(), 1u);
  EXPECT_EQ(all.body["batches"][0]["id"], batch_id);
  EXPECT_EQ(all.body["next_cursor"], "");
  EXPECT_EQ(api_->Get("/api/batches/all?state=done").status, 400);
  auto one = api_->Get("/api/batch?id=" + batch_id);
  ASSERT_EQ(one.status, 200) << one.text;
  ASSERT_EQ(one.body["tasks"].size(), 2u);
  for (const auto& t : one.body["tasks"]) {
    EXPECT_EQ(t["state"], "succeeded");
    json want = t["name"] == "b" ? json::array({a}) : json::array();
    EXPECT_EQ(t["parents"], want) << t;
  }

  // A task: spec, output, timings; the dead one with its exit code, stderr and error.
  auto echo = api_->Get("/api/task?id=" + ids[0]);
  ASSERT_EQ(echo.status, 200);
  EXPECT_EQ(echo.body["output"], R"({"n": 1})");
  EXPECT_EQ(echo.body["spec"]["payload"], R"({"n": 1})");
  EXPECT_EQ(echo.body["worker"], "api-w1");
  EXPECT_GT(echo.body["finished_ms"].get<int64_t>(), 0);
  auto failed = api_->Get("/api/task?id=" + dead);
  ASSERT_EQ(failed.status, 200);
  EXPECT_EQ(failed.body["state"], "failed");
  EXPECT_EQ(failed.body["exit_code"], 3);
  EXPECT_NE(failed.body["stderr"].get<std::string>().find("first run fails"), std::string::npos);
  EXPECT_EQ(failed.body["error"]["code"], "exit_status");

  // Scripts run by EVALSHA are loaded again when Redis forgot them (a restart, a flush).
  std::string flush = "redis-cli -s '" + cluster_->redis()->config().unix_path +
                      "' SCRIPT FLUSH > /dev/null";
  ASSERT_EQ(std::system(flush.c_str()), 0);
  EXPECT_EQ(api_->Get("/api/task?id=" + ids[0]).status, 200);

  // Without --http-token-file the dashboard is read-only.
  EXPECT_EQ(api_->Get("/api/access").body["admin_enabled"], false);
  auto retry = api_->Post("/api/dead/retry", json{{"ids", {dead}}}.dump());
  EXPECT_EQ(retry.status, 403) << retry.text;
  EXPECT_TRUE(Contains(api_->DeadIds(), dead));
}

TEST_F(DashboardApiTest, BadInputGets4xxAndACounter) {
  Boot(true);
  EXPECT_EQ(api_->Get("/api/task?id=../../etc/passwd", kRead).status, 400);
  EXPECT_EQ(api_->Get("/api/task", kRead).status, 400);
  EXPECT_EQ(api_->Get("/api/task?id=%zz", kRead).status, 400);
  EXPECT_EQ(api_->Get("/api/task?id=no-such-task", kRead).status, 404);
  EXPECT_EQ(api_->Get("/api/batch?id=no-such-batch", kRead).status, 404);
  EXPECT_EQ(api_->Get("/api/dead?limit=100000", kRead).status, 400);
  EXPECT_EQ(api_->Get("/api/dead?limit=-1", kRead).status, 400);
  EXPECT_EQ(api_->Get("/api/batch?id=x&cursor=abc", kRead).status, 400);
  EXPECT_EQ(api_->Get("/api/workers?limit=9999").status, 400);
  EXPECT_EQ(api_->Post("/api/dead/retry", "not json", kAdmin).status, 400);
  EXPECT_EQ(api_->Post("/api/dead/retry", R"({"ids": []})", kAdmin).status, 400);
  EXPECT_EQ(api_->Post("/api/cancel", R"({"ids": [1, 2]})", kAdmin).status, 400);
  json many = {{"ids", std::vector<std::string>(101, "a")}};
  EXPECT_EQ(api_->Post("/api/cancel", many.dump(), kAdmin).status, 400);
  EXPECT_EQ(api_->Post("/api/cancel", std::string(20000, ' '), kAdmin).status, 413);
  EXPECT_EQ(api_->Get("/api/cancel", kAdmin).status, 405);
  EXPECT_EQ(api_->Post("/api/task", "{}", kAdmin).status, 405);
  auto metrics = api_->Get("/metrics").text;
  EXPECT_GE(RefusedCount(metrics, "bad_input"), 11) << metrics;
  EXPECT_GE(RefusedCount(metrics, "not_found"), 2);
  // The listener carries on.
  EXPECT_EQ(api_->Get("/api/overview").status, 200);
}

TEST_F(DashboardApiTest, TokensGateReadsAndAdminActions) {
  Boot(true);
  std::string dead = DeadFlaky("flaky", kRead);
  // Reads of task data need the read or the admin token (a read token is set); the
  // overview, workers and /metrics stay open.
  EXPECT_EQ(api_->Get("/api/task?id=" + dead).status, 401);
  EXPECT_EQ(api_->Get("/api/task?id=" + dead, "wrong-token-wrong-token").status, 401);
  EXPECT_EQ(api_->Get("/api/task?id=" + dead, kRead).status, 200);
  EXPECT_EQ(api_->Get("/api/task?id=" + dead, kAdmin).status, 200);
  EXPECT_EQ(api_->Get("/api/dead").status, 401);
  EXPECT_EQ(api_->Get("/api/batches").status, 401);
  EXPECT_EQ(api_->Get("/api/overview").status, 200);
  EXPECT_EQ(api_->Get("/api/workers").status, 200);
  EXPECT_EQ(api_->Get("/api/access", kRead).body["token"], "read");

  // Retry: none and a wrong token 401, the read token 403, the admin token does it.
  std::string body = json{{"ids", {dead}}}.dump();
  EXPECT_EQ(api_->Post("/api/dead/retry", body).status, 401);
  EXPECT_EQ(api_->Post("/api/dead/retry", body, kAdmin + std::string("x")).status, 401);
  EXPECT_EQ(api_->Post("/api/dead/retry", body, kRead).status, 403);
  EXPECT_TRUE(Contains(api_->DeadIds(kRead), dead));
  auto retried = api_->Post("/api/dead/retry", body, kAdmin);
  ASSERT_EQ(retried.status, 200) << retried.text;
  EXPECT_EQ(retried.body["retried"], json::array({dead}));
  EXPECT_FALSE(Contains(api_->DeadIds(kRead), dead));
  // A worker claims it again (the reactor was never told) and it succeeds this time.
  auto after = WaitAll(cluster_->client(), {dead});
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].state, protocol::TaskState::kSucceeded);

  // Purge deletes a dead letter for good.
  std::string doomed = DeadFlaky("doomed", kRead);
  auto purged = api_->Post("/api/dead/purge", json{{"ids", {doomed}}}.dump(), kAdmin);
  ASSERT_EQ(purged.status, 200) << purged.text;
  EXPECT_EQ(purged.body["purged"], json::array({doomed}));
  EXPECT_EQ(api_->Get("/api/task?id=" + doomed, kRead).status, 404);

  // Cancel: a running task is flagged and its worker stops it at the next lease
  // extension; a delayed one is cancelled at once.
  std::string running = SubmitOne(cluster_->client(), Spec("sleep", R"({"ms": 30000})"));
  ASSERT_TRUE(WaitFor([&] {
    return api_->Get("/api/task?id=" + running, kRead).body["state"] == "running";
  }, 10000));
  auto delayed_spec = Spec("echo");
  delayed_spec.not_before_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count() +
                               3'600'000;
  std::string delayed = SubmitOne(cluster_->client(), delayed_spec);
  json cancel = {{"ids", {running, delayed}}};
  EXPECT_EQ(api_->Post("/api/cancel", cancel.dump(), kRead).status, 403);
  auto c = api_->Post("/api/cancel", cancel.dump(), kAdmin);
  ASSERT_EQ(c.status, 200) << c.text;
  EXPECT_EQ(c.body["items"][0]["status"], "cancel_requested");
  EXPECT_EQ(c.body["items"][1]["status"], "cancelled");
  auto ended = WaitAll(cluster_->client(), {running}, 15000);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].state, protocol::TaskState::kCancelled);

  // The tokens appear nowhere: not in /metrics, the pages or the broker's log.
  std::string metrics = api_->Get("/metrics").text;
  std::string page = api_->Get("/").text + api_->Get("/app.js").text;
  for (const char* secret : {kAdmin, kRead}) {
    EXPECT_EQ(metrics.find(secret), std::string::npos);
    EXPECT_EQ(page.find(secret), std::string::npos);
    EXPECT_EQ(cluster_->Logs().find(secret), std::string::npos);
  }
  EXPECT_GE(RefusedCount(metrics, "unauthorized"), 6);
  EXPECT_GE(RefusedCount(metrics, "forbidden"), 2);
}

TEST_F(DashboardApiTest, TasksAreListedPromotedAndReprioritised) {
  Boot(true);
  auto held = [&](int64_t not_before) {
    auto s = Spec("echo");
    s.queue = "held";  // no worker serves it
    s.not_before_ms = not_before;
    return SubmitOne(cluster_->client(), s);
  };
  std::string a = held(0), b = held(0);
  std::string later = held(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count() +
                            3'600'000);
  // Reads need a token (a read token is set), pages follow the cursor.
  EXPECT_EQ(api_->Get("/api/tasks?queue=held&state=queued").status, 401);
  auto first = api_->Get("/api/tasks?queue=held&state=queued&limit=1", kRead);
  ASSERT_EQ(first.status, 200) << first.text;
  ASSERT_EQ(first.body["tasks"].size(), 1u);
  EXPECT_EQ(first.body["tasks"][0]["id"], a);
  std::string cursor = first.body["next_cursor"];
  ASSERT_FALSE(cursor.empty());
  auto second = api_->Get("/api/tasks?queue=held&state=queued&limit=1&cursor=" + cursor, kRead);
  ASSERT_EQ(second.status, 200) << second.text;
  EXPECT_EQ(second.body["tasks"][0]["id"], b);
  EXPECT_EQ(second.body["next_cursor"], "");
  auto delayed = api_->Get("/api/tasks?queue=held&state=delayed", kRead);
  ASSERT_EQ(delayed.body["tasks"].size(), 1u);
  EXPECT_GT(delayed.body["tasks"][0]["ready_at_ms"].get<int64_t>(), 0);
  EXPECT_EQ(api_->Get("/api/tasks?queue=held&state=sleeping", kRead).status, 400);
  EXPECT_EQ(api_->Get("/api/tasks?queue=held&state=queued&limit=5000", kRead).status, 400);
  EXPECT_EQ(api_->Get("/api/tasks?state=queued", kRead).status, 400);

  // Promote and priority: the admin token; a wrong state is 409, an unknown task 404.
  std::string promote = json{{"id", later}, {"op", "promote"}}.dump();
  EXPECT_EQ(api_->Post("/api/update", promote, kRead).status, 403);
  auto p = api_->Post("/api/update", promote, kAdmin);
  ASSERT_EQ(p.status, 200) << p.text;
  EXPECT_EQ(p.body["state"], "queued");
  EXPECT_EQ(api_->Post("/api/update", promote, kAdmin).status, 409);
  auto up = api_->Post("/api/update", json{{"id", later}, {"op", "priority"}, {"priority", 50}}.dump(),
                       kAdmin);
  ASSERT_EQ(up.status, 200) << up.text;
  EXPECT_EQ(up.body["priority"], 50);
  auto now = api_->Get("/api/tasks?queue=held&state=queued", kRead);
  ASSERT_EQ(now.body["tasks"].size(), 3u);
  EXPECT_EQ(now.body["tasks"][0]["id"], later);
  EXPECT_EQ(api_->Post("/api/update", json{{"id", "nosuch"}, {"op", "promote"}}.dump(), kAdmin)
                .status,
            404);
  EXPECT_EQ(api_->Post("/api/update", json{{"id", a}, {"op", "priority"}, {"priority", 300}}.dump(),
                       kAdmin)
                .status,
            400);
}

TEST_F(DashboardApiTest, TheDashboardIsServedFromTheBinary) {
  Boot(false);
  auto index = HttpGet(cluster_->http(), "/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(index.Header("Content-Security-Policy").find("default-src 'self'"),
            std::string::npos);
  EXPECT_NE(index.body.find("/app.js"), std::string::npos);
  // Nothing is fetched from elsewhere: no absolute URLs in the page or its script.
  for (const char* path : {"/", "/app.js", "/app.css"}) {
    auto r = HttpGet(cluster_->http(), path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.body.find("https://"), std::string::npos) << path;
    EXPECT_EQ(r.body.find("//cdn"), std::string::npos) << path;
  }
}

}  // namespace
}  // namespace taskmill::testing
