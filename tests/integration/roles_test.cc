// CURVE roles end to end (docs/security.md, "Roles"): a broker with client, worker and admin
// allow-list directories, a real taskmill-worker, and the C++ client library: each key does
// what its role allows, gets `forbidden` (ErrorCode::kForbidden) for the rest, and sees only
// its own tasks unless it is an admin.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <chrono>
#include <map>
#include <sstream>

#include "cli/cli.h"
#include "flow_helpers.h"
#include "support/cluster.h"
#include "support/launch.h"
#include "taskmill/client/client.h"
#include "taskmill/shared/curve_keys.h"

namespace taskmill {
namespace {

namespace fs = std::filesystem;
using client::Client;
using client::ClientOptions;
using protocol::TaskState;
using testing::Cluster;
using testing::ReadFile;
using testing::Spec;
using testing::WaitFor;

class CurveRolesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "taskmill-roles-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    keys_ = tmpl;
    for (const char* dir : {"clients", "workers", "admins"}) {
      fs::create_directory(keys_ + "/" + dir);
    }
    Make("broker", "");
    Make("worker", "workers");
    Make("alice", "clients");
    Make("bob", "clients");
    Make("ops", "admins");
    Cluster::Options options;
    options.broker_args = {"--curve-secret-key-file", keys_ + "/broker.key",
                           "--curve-allow-dir",       keys_ + "/clients",
                           "--curve-worker-allow-dir", keys_ + "/workers",
                           "--curve-admin-allow-dir",  keys_ + "/admins"};
    auto c = Cluster::Start(options);
    ASSERT_TRUE(c.has_value()) << c.error().message;
    cluster_ = std::move(*c);
    ASSERT_TRUE(cluster_->StartWorker("w1", 2, "default", CurveArgs("worker")).has_value());
  }
  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << cluster_->Logs();
    cluster_.reset();
    std::error_code ec;
    fs::remove_all(keys_, ec);
  }
  void Make(const std::string& name, const std::string& role_dir) {
    auto pair = GenerateCurveKeyPair();
    ASSERT_TRUE(pair.has_value());
    auto files = WriteCurveKeyFiles(keys_, name, *pair, false);
    ASSERT_TRUE(files.has_value());
    if (!role_dir.empty()) {
      fs::copy_file(files->pub_file, keys_ + "/" + role_dir + "/" + name + ".pub");
    }
  }
  std::vector<std::string> CurveArgs(const std::string& name) {
    return {"--curve-server-key", keys_ + "/broker.pub", "--curve-key-file",
            keys_ + "/" + name + ".key"};
  }
  std::unique_ptr<Client> Connect(const std::string& name) {
    ClientOptions o;
    o.endpoint = cluster_->frontend();
    o.request_timeout_ms = 5000;
    o.curve_server_key = keys_ + "/broker.pub";
    o.curve_key_file = keys_ + "/" + name + ".key";
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.has_value()) << c.error().ToString();
    return c ? std::move(*c) : nullptr;
  }

  std::string keys_;
  std::unique_ptr<Cluster> cluster_;
};

TEST_F(CurveRolesTest, EachKeyDoesWhatItsRoleAllowsAndSeesOnlyItsOwnTasks) {
  auto alice = Connect("alice");
  auto bob = Connect("bob");
  auto ops = Connect("ops");
  auto worker_as_client = Connect("worker");
  ASSERT_TRUE(alice && bob && ops && worker_as_client);

  // A client key runs a task on a worker key's worker.
  auto id = alice->Submit(Spec("echo", "alice's"));
  ASSERT_TRUE(id.has_value()) << id.error().ToString();
  auto done = alice->Wait({*id}, 15000);
  ASSERT_TRUE(done.has_value()) << done.error().ToString();
  EXPECT_EQ(done->at(0).state, TaskState::kSucceeded);
  EXPECT_EQ(done->at(0).output, "alice's");

  // Another client key: the task does not exist for it, and it cancels nothing.
  auto seen = bob->Get(*id);
  EXPECT_TRUE(!seen.has_value() || seen->state == TaskState::kUnknown);
  auto cancelled = bob->CancelMany({*id});
  ASSERT_TRUE(cancelled.has_value()) << cancelled.error().ToString();
  EXPECT_EQ(cancelled->count, 0u);
  // The DLQ needs an admin key; the error names the role and the directory.
  auto dlq = bob->ListDeadLetters();
  ASSERT_FALSE(dlq.has_value());
  EXPECT_EQ(dlq.error().code, ErrorCode::kForbidden) << dlq.error().ToString();
  EXPECT_NE(dlq.error().message.find("admin role"), std::string::npos) << dlq.error().message;
  EXPECT_NE(dlq.error().message.find("--curve-admin-allow-dir"), std::string::npos);
  // So do QUEUE and WORKER (issue 22): pausing a queue or quieting a worker is everyone's.
  auto pause = bob->PauseQueue("default");
  ASSERT_FALSE(pause.has_value());
  EXPECT_EQ(pause.error().code, ErrorCode::kForbidden) << pause.error().ToString();
  EXPECT_NE(pause.error().message.find("QUEUE needs the admin role"), std::string::npos)
      << pause.error().message;
  auto quiet = bob->QuietWorker("w1");
  ASSERT_FALSE(quiet.has_value());
  EXPECT_EQ(quiet.error().code, ErrorCode::kForbidden) << quiet.error().ToString();
  auto admin_pause = ops->PauseQueue("roles-paused");
  ASSERT_TRUE(admin_pause.has_value()) << admin_pause.error().ToString();
  EXPECT_TRUE(admin_pause->paused);
  ASSERT_TRUE(ops->ResumeQueue("roles-paused").has_value());
  // An admin key may, and sees every client's tasks.
  EXPECT_TRUE(ops->ListDeadLetters().has_value());
  auto admin_view = ops->Get(*id);
  ASSERT_TRUE(admin_view.has_value()) << admin_view.error().ToString();
  EXPECT_EQ(admin_view->state, TaskState::kSucceeded);
  // A worker key may not submit.
  auto from_worker = worker_as_client->Submit(Spec("echo", "worker's"));
  ASSERT_FALSE(from_worker.has_value());
  EXPECT_EQ(from_worker.error().code, ErrorCode::kForbidden) << from_worker.error().ToString();
}

// The CLI's dlq commands use --curve-admin-key-file: with a client key alone they are
// forbidden (exit 1, naming the role); with the admin key file too they work.
TEST_F(CurveRolesTest, TheCliUsesTheAdminKeyForTheDlq) {
  auto broker_public = LoadCurvePublicKey(keys_ + "/broker.pub");
  ASSERT_TRUE(broker_public.has_value());
  std::map<std::string, std::string> env = {
      {"TASKMILL_BROKER", cluster_->frontend()},
      {"TASKMILL_CURVE_SERVER_KEY", *broker_public},
      {"TASKMILL_CURVE_KEY_FILE", keys_ + "/alice.key"},
  };
  auto lookup = [&env](const std::string& k) { return env.contains(k) ? env[k] : ""; };
  std::ostringstream out, err;
  EXPECT_EQ(client::cli::RunCli({"taskmill", "dlq", "list"}, out, err, false, lookup), 1);
  EXPECT_NE(err.str().find("forbidden: DLQ needs the admin role"), std::string::npos)
      << err.str();
  env["TASKMILL_CURVE_ADMIN_KEY_FILE"] = keys_ + "/ops.key";
  std::ostringstream out2, err2;
  EXPECT_EQ(client::cli::RunCli({"taskmill", "dlq", "list"}, out2, err2, false, lookup), 0)
      << err2.str();
  // The other commands keep the client key: stats works, as alice.
  std::ostringstream out3, err3;
  EXPECT_EQ(client::cli::RunCli({"taskmill", "stats"}, out3, err3, false, lookup), 0)
      << err3.str();
}

TEST_F(CurveRolesTest, AClientKeyCannotRegisterAsAWorker) {
  ASSERT_TRUE(cluster_->StartWorker("client-worker", 2, "default", CurveArgs("alice")));
  std::string log;
  ASSERT_TRUE(WaitFor(
      [&] {
        log = ReadFile(cluster_->dir() + "/broker.log");
        return log.find("refused READY from client-worker") != std::string::npos;
      },
      10000));
  EXPECT_NE(log.find("READY needs the worker role; this key ('alice') has client"),
            std::string::npos);
  auto stats = Connect("ops")->Stats();
  ASSERT_TRUE(stats.has_value());
  for (const auto& w : stats->workers) EXPECT_NE(w.id, "client-worker");
}

}  // namespace
}  // namespace taskmill

namespace taskmill {
namespace {

using testing::WireClient;

void SendTo(WireClient& c, const protocol::Message& m) {
  auto f = protocol::Encode(m);
  c.SendRaw({f.version, f.command, f.body});
}

std::optional<protocol::TaskMsg> NextTask(WireClient& c, int64_t timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    auto m = c.Receive(100);
    if (m && std::holds_alternative<protocol::TaskMsg>(*m)) return std::get<protocol::TaskMsg>(*m);
  }
  return std::nullopt;
}

// Without CURVE, a worker that relinks while its old connection is still up (it stopped
// hearing the broker, which still hears it) names its attempts in READY `running` and takes
// its id over at once; its DONE on the new link is recorded. A READY that does not name them
// is refused while the old connection is up, and a DONE sent after it is never recorded.
TEST(WorkerRelinkTest, ARelinkNamingItsAttemptsTakesTheIdOverAStrangerDoesNot) {
  Cluster::Options options;
  options.heartbeat_ms = 1000;  // the old link stays "heard from" for the whole test
  options.lease_ms = 10000;
  auto c = Cluster::Start(options);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  auto& cluster = **c;
  protocol::Ready ready;
  ready.worker_id = "w-relink";
  ready.queues = {"relinkq"};
  ready.types = {"echo"};
  ready.concurrency = 1;
  WireClient old_link(cluster.backend());
  SendTo(old_link, ready);
  auto id = testing::SubmitOne(cluster.client(), Spec("echo", "\"x\"", "relinkq"));
  auto task = NextTask(old_link, 10000);
  ASSERT_TRUE(task.has_value());
  ASSERT_EQ(task->task_id, id);
  SendTo(old_link, protocol::Heartbeat{0});  // the old link is up and talking

  // A stranger's READY (names nothing): refused; its DONE, even with the right token, is
  // never recorded.
  WireClient stranger(cluster.backend());
  SendTo(stranger, ready);
  protocol::Done forged;
  forged.task_id = id;
  forged.token = task->token;
  forged.ok = true;
  forged.output = "forged";
  SendTo(stranger, forged);
  ASSERT_TRUE(WaitFor(
      [&] {
        return ReadFile(cluster.dir() + "/broker.log").find("is held by a live connection") !=
               std::string::npos;
      },
      10000));
  // The worker's own relink names the attempt: it takes the id over, its DONE is recorded.
  WireClient new_link(cluster.backend());
  protocol::Ready again = ready;
  again.running = {id};
  SendTo(new_link, again);
  protocol::Done done = forged;
  done.output = "real";
  SendTo(new_link, done);
  std::optional<protocol::TaskInfo> info;
  ASSERT_TRUE(WaitFor(
      [&] {
        protocol::Get g;
        g.ids = {id};
        auto r = cluster.client().Call(g, 2000);
        if (!r || r->tasks.empty()) return false;
        info = r->tasks[0];
        return info->state == TaskState::kSucceeded;
      },
      10000));
  EXPECT_EQ(info->output, "real");
  EXPECT_EQ(info->attempts, 1u);
}

}  // namespace
}  // namespace taskmill
