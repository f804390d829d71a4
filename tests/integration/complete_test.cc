// Completion modes (issue 19) through real processes: a redis-server and a taskmill-broker,
// with a C++ worker on a thread of this test whose handler hands its task to an "outside
// system" (Outcome::Await) and records the completion token. COMPLETE over the wire, the
// HTTP webhook (POST /api/tasks/ID/complete) and `taskmill complete` (the CLI in-process);
// the exec built-in through $TASKMILL_RESULT_FILE with a real taskmill-worker.

#include <httplib.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "cli/cli.h"
#include "flow_helpers.h"
#include "support/http_get.h"
#include "support/launch.h"
#include "taskmill/shared/clock.h"
#include "taskmill/shared/protocol/codec.h"
#include "taskmill/worker/worker.h"

namespace taskmill::testing {
namespace {

using protocol::TaskState;
using worker::Outcome;
using worker::TaskContext;

// The outside system's side: the tokens handlers gave out, by task id (latest attempt).
class Tokens {
 public:
  void Put(const std::string& id, const std::string& token) {
    std::lock_guard lock(mu_);
    tokens_[id] = token;
  }
  std::string Get(const std::string& id) {
    std::lock_guard lock(mu_);
    auto it = tokens_.find(id);
    return it == tokens_.end() ? "" : it->second;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> tokens_;
};

class CompleteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Cluster::Options o;
    o.broker_args = {"--reap-ms", "50"};
    auto c = Cluster::Start(o);
    ASSERT_TRUE(c.has_value()) << c.error().message;
    cluster_ = std::move(*c);
  }
  void TearDown() override {
    StopWorker();
    if (HasFailure()) std::cerr << cluster_->Logs();
  }

  // A worker on a thread: "hand_over" awaits with the payload's deadline (decimal ms, ""
  // = none) and "echo" succeeds with its payload.
  void StartWorker(uint32_t concurrency) {
    worker::WorkerOptions o;
    o.broker = cluster_->backend();
    o.concurrency = concurrency;
    o.heartbeat_ms = 200;
    o.id = "await-worker";
    worker_ = std::make_unique<worker::Worker>(o);
    worker_->Handle("hand_over", [this](TaskContext& ctx) {
      tokens_.Put(ctx.task_id(), ctx.CompletionToken());
      std::string ms(ctx.payload());
      return Outcome::Await(ms.empty() ? 0 : static_cast<uint32_t>(std::stoul(ms)));
    });
    worker_->Handle("echo", [](TaskContext& ctx) { return Outcome::Ok(std::string(ctx.payload())); });
    // Polled: counts its checks in the state value; "forever" never finishes (max 300 ms).
    worker_->Handle("check", [](TaskContext& ctx) {
      if (ctx.payload() == "forever") return Outcome::Poll(20, "x", 300);
      int n = ctx.poll_state().empty() ? 0 : std::stoi(std::string(ctx.poll_state()));
      if (n < 3) return Outcome::Poll(20, std::to_string(n + 1));
      return Outcome::Ok("done after " + std::string(ctx.poll_state()) + " checks, attempt " +
                         std::to_string(ctx.attempt()));
    });
    thread_ = std::thread([this] { (void)worker_->Run(); });
  }
  void StopWorker() {
    if (!worker_) return;
    worker_->Drain(0);
    thread_.join();
    worker_.reset();
  }

  WireClient& client() { return cluster_->client(); }

  std::string HandOver(uint32_t deadline_ms = 0, uint32_t max_attempts = 1) {
    protocol::TaskSpec spec;
    spec.type = "hand_over";
    spec.payload = deadline_ms == 0 ? "" : std::to_string(deadline_ms);
    spec.max_attempts = max_attempts;
    spec.backoff.base_ms = 10;
    spec.backoff.max_ms = 10;
    return SubmitOne(client(), spec);
  }

  // Polls GET until the task is in `state` (or 20 s pass).
  protocol::TaskInfo WaitState(const std::string& id, TaskState state) {
    const auto& clock = SystemClock::Instance();
    int64_t deadline = clock.MonotonicMs() + 20000;
    protocol::TaskInfo t;
    while (clock.MonotonicMs() < deadline) {
      t = GetOne(client(), id);
      if (t.state == state) return t;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "task " << id << " never reached " << protocol::TaskStateName(state)
                  << " (it is " << protocol::TaskStateName(t.state) << ")";
    return t;
  }

  Result<protocol::Reply> Complete(const std::string& id, const std::string& token,
                                   std::string output = "", double usd = 0) {
    protocol::Complete c;
    c.task_id = id;
    c.token = token;
    c.output = std::move(output);
    if (usd > 0) c.cost = {{"usd", usd}};
    return client().Call(c);
  }

  std::unique_ptr<Cluster> cluster_;
  Tokens tokens_;
  std::unique_ptr<worker::Worker> worker_;
  std::thread thread_;
};

std::string CodeOf(const Result<protocol::Reply>& r) {
  if (!r) return "transport: " + r.error().ToString();
  return r->error ? r->error->code : "";
}

TEST_F(CompleteTest, WrongTokenChangesNothingRightTokenCompletesOnceUsedTokenIsRefused) {
  StartWorker(1);
  std::string id = HandOver();
  auto awaiting = WaitState(id, TaskState::kAwaiting);
  EXPECT_EQ(awaiting.attempts, 1u);
  std::string token = tokens_.Get(id);
  ASSERT_EQ(token.size(), 32u);

  std::string wrong = token;
  wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
  auto r = Complete(id, wrong, "forged", 5);
  EXPECT_EQ(CodeOf(r), "stale_token");
  EXPECT_EQ(GetOne(client(), id).state, TaskState::kAwaiting);
  EXPECT_EQ(CodeOf(Complete(id, "not-hex")), "invalid_argument");
  EXPECT_EQ(CodeOf(Complete("01JD0000000000000000000404", token)), "not_found");

  r = Complete(id, token, "charged", 0.25);
  ASSERT_EQ(CodeOf(r), "");
  EXPECT_EQ(r->count, 1u);
  auto done = WaitAll(client(), {id});
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].state, TaskState::kSucceeded);
  EXPECT_EQ(done[0].output, "charged");
  EXPECT_DOUBLE_EQ(done[0].cost["usd"], 0.25);

  // Used: refused, and the record keeps the first completion.
  r = Complete(id, token, "again", 1);
  EXPECT_EQ(CodeOf(r), "conflict");
  ASSERT_TRUE(r && r->error);
  EXPECT_NE(r->error->message.find("succeeded, not awaiting"), std::string::npos)
      << r->error->message;
  auto after = GetOne(client(), id);
  EXPECT_EQ(after.output, "charged");
  EXPECT_DOUBLE_EQ(after.cost["usd"], 0.25);
}

TEST_F(CompleteTest, TwoRacingCompletionsRecordExactlyOne) {
  StartWorker(1);
  for (int round = 0; round < 5; ++round) {
    std::string id = HandOver();
    WaitState(id, TaskState::kAwaiting);
    std::string token = tokens_.Get(id);
    // Two COMPLETEs on two connections, sent before either answer is read.
    WireClient other(cluster_->frontend());
    protocol::Complete a;
    a.req_id = 1;
    a.task_id = id;
    a.token = token;
    a.output = "first";
    a.cost = {{"usd", 1}};
    protocol::Complete b = a;
    b.output = "second";
    auto fa = protocol::Encode(protocol::Message{a});
    auto fb = protocol::Encode(protocol::Message{b});
    client().SendRaw({fa.version, fa.command, fa.body});
    other.SendRaw({fb.version, fb.command, fb.body});
    int ok = 0, refused = 0;
    for (WireClient* c : {&client(), &other}) {
      auto m = c->Receive(10000);
      ASSERT_TRUE(m.has_value()) << m.error().ToString();
      auto* reply = std::get_if<protocol::Reply>(&*m);
      ASSERT_NE(reply, nullptr);
      if (reply->error) {
        EXPECT_EQ(reply->error->code, "conflict");
        ++refused;
      } else {
        ++ok;
      }
    }
    EXPECT_EQ(ok, 1);
    EXPECT_EQ(refused, 1);
    auto t = WaitAll(client(), {id});
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].state, TaskState::kSucceeded);
    EXPECT_TRUE(t[0].output == "first" || t[0].output == "second") << t[0].output;
    EXPECT_DOUBLE_EQ(t[0].cost["usd"], 1.0);  // counted once
  }
}

TEST_F(CompleteTest, PassedDeadlineFailsTheAttemptAndRetriesByPolicy) {
  StartWorker(1);
  // Two attempts: the first wait expires and is retried, the second's too, then dead.
  std::string id = HandOver(/*deadline_ms=*/200, /*max_attempts=*/2);
  auto first = WaitState(id, TaskState::kAwaiting);
  std::string token1 = tokens_.Get(id);
  auto t = WaitState(id, TaskState::kFailed);
  EXPECT_EQ(t.attempts, 2u);
  ASSERT_TRUE(t.error.has_value());
  EXPECT_EQ(t.error->code, "await_expired");
  std::string token2 = tokens_.Get(id);
  EXPECT_NE(token1, token2);  // each attempt has its own token
  EXPECT_EQ(CodeOf(Complete(id, token2, "late")), "conflict");
  EXPECT_EQ(GetOne(client(), id).state, TaskState::kFailed);
}

TEST_F(CompleteTest, FailedCompletionIsRetriedWithANewToken) {
  StartWorker(1);
  std::string id = HandOver(0, 2);
  WaitState(id, TaskState::kAwaiting);
  std::string token1 = tokens_.Get(id);
  protocol::Complete c;
  c.task_id = id;
  c.token = token1;
  c.ok = false;
  c.error = protocol::TaskError{"declined", "card declined", true};
  ASSERT_EQ(CodeOf(client().Call(c)), "");
  // Attempt 2 hands over again, with a fresh token; the old one completes nothing.
  const auto& clock = SystemClock::Instance();
  int64_t deadline = clock.MonotonicMs() + 20000;
  while (clock.MonotonicMs() < deadline) {
    auto t = GetOne(client(), id);
    if (t.state == TaskState::kAwaiting && t.attempts == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string token2 = tokens_.Get(id);
  ASSERT_NE(token1, token2);
  EXPECT_EQ(CodeOf(Complete(id, token1)), "stale_token");
  ASSERT_EQ(CodeOf(Complete(id, token2, "paid")), "");
  auto t = WaitAll(client(), {id});
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].state, TaskState::kSucceeded);
  ASSERT_EQ(t[0].history.size(), 1u);
  EXPECT_EQ(t[0].history[0].code, "declined");
}

TEST_F(CompleteTest, AThousandAwaitingTasksHoldNoWorkerSlot) {
  StartWorker(1);
  std::vector<protocol::TaskSpec> specs(1000);
  for (auto& s : specs) s.type = "hand_over";
  auto ids = SubmitAll(client(), specs);
  ASSERT_EQ(ids.size(), 1000u);
  for (const auto& id : {ids.front(), ids.back()}) WaitState(id, TaskState::kAwaiting);
  const auto& clock = SystemClock::Instance();
  int64_t deadline = clock.MonotonicMs() + 30000;
  size_t awaiting = 0;
  while (clock.MonotonicMs() < deadline) {
    protocol::Get g;
    g.ids = ids;
    auto r = client().Call(g);
    ASSERT_TRUE(r && !r->error);
    awaiting = 0;
    for (const auto& t : r->tasks) awaiting += t.state == TaskState::kAwaiting;
    if (awaiting == ids.size()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(awaiting, 1000u);
  // Counted as awaiting in /metrics and the dashboard's overview (figures cached up to 1 s).
  std::string sample;
  int64_t totals = -1;
  EXPECT_TRUE(WaitFor(
      [&] {
        auto page = HttpGet(cluster_->http(), "/metrics").body;
        size_t at = page.find("\ntaskmill_queue_tasks{queue=\"default\",state=\"awaiting\"} ");
        sample = at == std::string::npos ? "" : page.substr(at + 1, page.find('\n', at + 1) - at - 1);
        auto overview = nlohmann::json::parse(HttpGet(cluster_->http(), "/api/overview").body,
                                              nullptr, false);
        totals = overview.is_discarded() ? -1 : overview["totals"].value("awaiting", -1);
        return sample.ends_with("} 1000") && totals == 1000;
      },
      5000))
      << "metrics: '" << sample << "', overview totals.awaiting " << totals;
  // The one slot is free: another task runs at once.
  int64_t start = clock.MonotonicMs();
  auto echo = SubmitOne(client(), Spec("echo", "\"next\""));
  auto t = WaitAll(client(), {echo}, 10000);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].state, TaskState::kSucceeded);
  EXPECT_LT(clock.MonotonicMs() - start, 5000);
}

TEST_F(CompleteTest, WebhookCompletesOverHttp) {
  StartWorker(1);
  std::string id = HandOver();
  WaitState(id, TaskState::kAwaiting);
  std::string token = tokens_.Get(id);
  auto colon = cluster_->http().rfind(':');
  httplib::Client http(cluster_->http().substr(0, colon),
                       std::stoi(cluster_->http().substr(colon + 1)));
  std::string path = "/api/tasks/" + id + "/complete";
  auto post = [&](const std::string& body) {
    auto r = http.Post(path.c_str(), body, "application/json");
    return r ? r->status : -1;
  };
  EXPECT_EQ(post("not json"), 400);
  EXPECT_EQ(post(R"({"token": "00000000000000000000000000000000"})"), 403);
  EXPECT_EQ(GetOne(client(), id).state, TaskState::kAwaiting);
  EXPECT_EQ(post(R"({"token": ")" + token + R"(", "output": "hooked", "cost": {"usd": 2}})"),
            200);
  auto t = WaitAll(client(), {id});
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].state, TaskState::kSucceeded);
  EXPECT_EQ(t[0].output, "hooked");
  EXPECT_DOUBLE_EQ(t[0].cost["usd"], 2.0);
  EXPECT_EQ(post(R"({"token": ")" + token + R"("})"), 409);
  // The body is bounded as every /api POST.
  EXPECT_EQ(post(R"({"token": ")" + token + R"(", "output": ")" + std::string(20000, 'x') +
                 R"("})"),
            413);
}

// A webhook's completion runs on the reactor as a client's COMPLETE does, so the RESULT a
// client asked for at submit is pushed at once, not at the periodic re-read of watched tasks
// (every 5 s). Four rounds in a row: at the re-read's pace they take 15 s or more (each
// round's push waits for a later re-read); through the reactor, milliseconds each.
TEST_F(CompleteTest, AWebhookCompletionPushesItsResultAtOnce) {
  StartWorker(1);
  auto colon = cluster_->http().rfind(':');
  httplib::Client http(cluster_->http().substr(0, colon),
                       std::stoi(cluster_->http().substr(colon + 1)));
  const auto& clock = SystemClock::Instance();
  int64_t start = clock.MonotonicMs();
  for (int round = 0; round < 4; ++round) {
    protocol::Submit s;
    s.notify = true;
    s.tasks.push_back(Spec("hand_over", ""));
    s.tasks[0].max_attempts = 1;
    auto reply = client().Call(s);
    ASSERT_TRUE(reply && !reply->error && reply->ids.size() == 1);
    std::string id = reply->ids[0];
    WaitState(id, TaskState::kAwaiting);
    std::string body = R"({"token": ")" + tokens_.Get(id) + R"(", "output": "round )" +
                       std::to_string(round) + R"("})";
    auto posted = http.Post(("/api/tasks/" + id + "/complete").c_str(), body, "application/json");
    ASSERT_TRUE(posted);
    ASSERT_EQ(posted->status, 200) << posted->body;
    auto push = client().NextPush(10000);
    ASSERT_TRUE(push) << "no RESULT for round " << round;
    const auto& task = std::get<protocol::ResultMsg>(*push).task;
    EXPECT_EQ(task.id, id);
    EXPECT_EQ(task.state, TaskState::kSucceeded);
    EXPECT_EQ(task.output, "round " + std::to_string(round));
  }
  EXPECT_LT(clock.MonotonicMs() - start, 10000)
      << "the RESULTs came at the periodic re-read's pace, not when the webhook completed";
}

TEST_F(CompleteTest, CliCompletesAndFails) {
  StartWorker(1);
  std::string ok_id = HandOver();
  std::string fail_id = HandOver();
  WaitState(ok_id, TaskState::kAwaiting);
  WaitState(fail_id, TaskState::kAwaiting);
  auto run = [&](std::vector<std::string> argv, std::string* out_text = nullptr) {
    argv.insert(argv.begin(), {"taskmill", "--broker", cluster_->frontend()});
    std::ostringstream out, err;
    int code = client::cli::RunCli(argv, out, err, false, [](const std::string&) { return ""; });
    if (out_text) *out_text = out.str() + err.str();
    return code;
  };
  std::string text;
  EXPECT_EQ(run({"complete", ok_id, "--token", "0123456789abcdef0123456789abcdef"}, &text), 1);
  EXPECT_NE(text.find("does not match"), std::string::npos) << text;
  EXPECT_EQ(run({"complete", ok_id, "--token", tokens_.Get(ok_id), "--output", "via cli",
                 "--cost", "usd=0.5", "--cost", "usd=0.25"}),
            0);
  EXPECT_EQ(run({"complete", fail_id, "--token", tokens_.Get(fail_id), "--fail", "declined",
                 "--message", "no funds"}),
            0);
  auto t = WaitAll(client(), {ok_id, fail_id});
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].state, TaskState::kSucceeded);
  EXPECT_EQ(t[0].output, "via cli");
  EXPECT_DOUBLE_EQ(t[0].cost["usd"], 0.75);
  EXPECT_EQ(t[1].state, TaskState::kFailed);
  ASSERT_TRUE(t[1].error.has_value());
  EXPECT_EQ(t[1].error->code, "declined");
  EXPECT_EQ(run({"complete", ok_id}), 2);  // no --token
}

TEST_F(CompleteTest, PolledChecksKeepTheirStateAndUseNoAttempt) {
  StartWorker(1);
  protocol::TaskSpec spec;
  spec.type = "check";
  spec.max_attempts = 1;
  auto id = SubmitOne(client(), spec);
  auto t = WaitAll(client(), {id});
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].state, TaskState::kSucceeded);
  EXPECT_EQ(t[0].output, "done after 3 checks, attempt 1");
  EXPECT_EQ(t[0].attempts, 1u);
}

TEST_F(CompleteTest, APollThatNeverFinishesHitsItsMaximumWait) {
  StartWorker(1);
  protocol::TaskSpec spec;
  spec.type = "check";
  spec.payload = "forever";
  spec.max_attempts = 1;
  auto id = SubmitOne(client(), spec);
  auto t = WaitAll(client(), {id});
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].state, TaskState::kFailed);
  ASSERT_TRUE(t[0].error.has_value());
  EXPECT_EQ(t[0].error->code, "poll_expired");
  EXPECT_EQ(t[0].attempts, 1u);  // a dozen checks, one attempt
}

TEST_F(CompleteTest, ChecksHoldNoSlotBetweenThem) {
  StartWorker(1);
  protocol::TaskSpec spec;
  spec.type = "check";
  spec.payload = "forever";
  spec.max_attempts = 1;
  auto poller = SubmitOne(client(), spec);
  auto echo = SubmitOne(client(), Spec("echo", "\"between\""));
  auto e = WaitAll(client(), {echo}, 10000);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].state, TaskState::kSucceeded);
  // The echo ran while the poller was still polling (its checks last 300 ms in all): had
  // the checks held the one slot, it would have run only after the poller failed.
  auto p = WaitAll(client(), {poller});
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].state, TaskState::kFailed);
  EXPECT_LT(e[0].finished_ms, p[0].finished_ms);
}

TEST_F(CompleteTest, ExecPollsThroughTheResultFile) {
  ASSERT_TRUE(cluster_->StartWorker("exec-worker", 1));
  // Each run appends to its state; the third finishes.
  std::string script =
      "s=\"${TASKMILL_POLL_STATE}x\"; if [ ${#s} -ge 3 ]; then printf %s \"$s\"; else "
      "printf '{\"poll\": {\"after_ms\": 10, \"state\": \"%s\"}}' \"$s\" > "
      "\"$TASKMILL_RESULT_FILE\"; fi";
  nlohmann::json payload = {{"argv", {"sh", "-c", script}}};
  auto spec = Spec("exec", payload.dump());
  spec.max_attempts = 1;
  auto id = SubmitOne(client(), spec);
  auto t = WaitAll(client(), {id});
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].state, TaskState::kSucceeded) << (t[0].error ? t[0].error->message : "");
  EXPECT_EQ(t[0].output, "xxx");
  EXPECT_EQ(t[0].attempts, 1u);
}

TEST_F(CompleteTest, ExecHandsOverThroughTheResultFile) {
  ASSERT_TRUE(cluster_->StartWorker("exec-worker", 1));
  std::string token_file = cluster_->dir() + "/token";
  std::string script = "printf %s \"$TASKMILL_COMPLETION_TOKEN\" > " + token_file +
                       "; echo '{\"awaiting\": {\"deadline_ms\": 60000}}' > "
                       "\"$TASKMILL_RESULT_FILE\"";
  nlohmann::json payload = {{"argv", {"sh", "-c", script}}};
  auto id = SubmitOne(client(), Spec("exec", payload.dump()));
  WaitState(id, TaskState::kAwaiting);
  std::ifstream in(token_file);
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(token.size(), 32u);
  ASSERT_EQ(CodeOf(Complete(id, token, "from exec")), "");
  auto t = WaitAll(client(), {id});
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].state, TaskState::kSucceeded);
  EXPECT_EQ(t[0].output, "from exec");
}

}  // namespace
}  // namespace taskmill::testing
