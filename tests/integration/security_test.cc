// Transport security end to end (docs/security.md): a real redis-server, a taskmill-broker
// with CURVE on both sockets and its ZAP allow-list, taskmill-worker processes and clients
// with keys made by the real `taskmill keygen`. Also: the Redis password never reaches a log.

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cli/cli.h"
#include "redis/redis_connection.h"
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

std::string Quote(const std::string& arg) {
  std::string q = "'";
  for (char c : arg) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string MakeTempDir(const std::string& stem) {
  std::string tmpl = (fs::temp_directory_path() / (stem + "-XXXXXX")).string();
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

// Runs the real `taskmill keygen NAME --dir DIR`; its exit code.
int Keygen(const std::string& name, const std::string& dir) {
  std::string cmd = Quote(testing::Binary("client/taskmill")) + " keygen " + Quote(name) +
                    " --dir " + Quote(dir) + " >/dev/null 2>&1";
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class CurveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_ = MakeTempDir("taskmill-keys");
    allow_ = keys_ + "/allowed";
    workers_ = keys_ + "/workers";
    fs::create_directory(allow_);
    fs::create_directory(workers_);
    for (const char* name : {"broker", "worker", "client", "stranger"}) {
      ASSERT_EQ(Keygen(name, keys_), 0) << name;
    }
    fs::copy_file(keys_ + "/worker.pub", workers_ + "/worker.pub");
    fs::copy_file(keys_ + "/client.pub", allow_ + "/client.pub");
    auto stranger = LoadCurvePublicKey(keys_ + "/stranger.pub");
    ASSERT_TRUE(stranger.has_value());
    stranger_public_ = *stranger;

    Cluster::Options options;
    options.broker_args = {"--curve-secret-key-file", keys_ + "/broker.key", "--curve-allow-dir",
                           allow_, "--curve-worker-allow-dir", workers_};
    auto c = Cluster::Start(options);
    ASSERT_TRUE(c.has_value()) << c.error().message;
    cluster_ = std::move(*c);
    auto w = cluster_->StartWorker("w1", 2, "default", CurveArgs("worker"));
    ASSERT_TRUE(w.has_value());
  }
  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << cluster_->Logs();
    cluster_.reset();
    std::error_code ec;
    fs::remove_all(keys_, ec);
  }
  std::vector<std::string> CurveArgs(const std::string& name) {
    return {"--curve-server-key", keys_ + "/broker.pub", "--curve-key-file",
            keys_ + "/" + name + ".key"};
  }
  // A client with `name`'s key pair ("" for no CURVE at all).
  std::unique_ptr<Client> Connect(const std::string& name, uint32_t timeout_ms = 5000) {
    ClientOptions o;
    o.endpoint = cluster_->frontend();
    o.request_timeout_ms = timeout_ms;
    if (!name.empty()) {
      o.curve_server_key = keys_ + "/broker.pub";
      o.curve_key_file = keys_ + "/" + name + ".key";
    }
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.has_value()) << c.error().ToString();
    return c ? std::move(*c) : nullptr;
  }
  std::string BrokerLog() const { return ReadFile(cluster_->dir() + "/broker.log"); }
  bool LogShows(const std::string& text, int64_t timeout_ms = 10000) {
    return WaitFor([&] { return BrokerLog().find(text) != std::string::npos; }, timeout_ms);
  }
  // Submits an echo task as `name` and waits for it: the whole path through the broker.
  void RunEcho(const std::string& name, const std::string& payload) {
    auto c = Connect(name);
    ASSERT_TRUE(c);
    auto id = c->Submit(Spec("echo", payload));
    ASSERT_TRUE(id.has_value()) << id.error().ToString();
    auto done = c->Wait({*id}, 15000);
    ASSERT_TRUE(done.has_value()) << done.error().ToString();
    ASSERT_EQ(done->size(), 1u);
    EXPECT_EQ((*done)[0].state, TaskState::kSucceeded);
    EXPECT_EQ((*done)[0].output, payload);
    EXPECT_EQ((*done)[0].worker, "w1");
  }
  // A stranger's submit on its own queue: refused at the handshake.
  void ExpectRefused(const std::string& name) {
    auto c = Connect(name, 3000);
    ASSERT_TRUE(c);
    auto id = c->Submit(Spec("echo", "intruder", "strangers"));
    ASSERT_FALSE(id.has_value()) << "a " << name << " client got a task in: " << *id;
    EXPECT_EQ(id.error().code, ErrorCode::kUnauthorized) << id.error().ToString();
  }
  uint64_t StrangerTasks() {
    auto c = Connect("client");
    auto stats = c->Stats({"strangers"});
    EXPECT_TRUE(stats.has_value()) << stats.error().ToString();
    uint64_t n = 0;
    for (const auto& q : stats.value_or(client::StatsReply{}).queues) {
      n += q.submitted + q.ready;
    }
    return n;
  }

  std::string keys_;
  std::string allow_;    // client keys
  std::string workers_;  // worker keys
  std::string stranger_public_;
  std::unique_ptr<Cluster> cluster_;
};

TEST_F(CurveTest, AllowedClientAndWorkerRunATaskEndToEnd) {
  RunEcho("client", "over curve");
  std::string log = BrokerLog();
  EXPECT_NE(log.find("CURVE on: broker public key"), std::string::npos);
  EXPECT_NE(log.find("allowed CURVE key of 'worker'"), std::string::npos);
  EXPECT_NE(log.find("allowed CURVE key of 'client'"), std::string::npos);
  for (const char* name : {"broker", "worker", "client"}) {
    auto keys = LoadCurveKeyFile(keys_ + "/" + name + ".key");
    ASSERT_TRUE(keys.has_value());
    EXPECT_EQ(log.find(keys->secret_key), std::string::npos) << name << "'s secret key logged";
  }

  // The CLI, keys from the environment: the server key as Z85 text, the own key as a file.
  auto broker_public = LoadCurvePublicKey(keys_ + "/broker.pub");
  ASSERT_TRUE(broker_public.has_value());
  std::map<std::string, std::string> env = {
      {"TASKMILL_BROKER", cluster_->frontend()},
      {"TASKMILL_CURVE_SERVER_KEY", *broker_public},
      {"TASKMILL_CURVE_KEY_FILE", keys_ + "/client.key"},
  };
  auto lookup = [&env](const std::string& k) { return env.contains(k) ? env[k] : ""; };
  std::ostringstream out, err;
  int code = client::cli::RunCli(
      {"taskmill", "submit", "--type", "echo", "--payload", "from the cli", "--wait"}, out, err,
      false, lookup);
  EXPECT_EQ(code, 0) << err.str();
  EXPECT_NE(out.str().find("from the cli"), std::string::npos) << out.str();

  // Only one half of the client's CURVE options: a usage error naming the flag.
  env.erase("TASKMILL_CURVE_KEY_FILE");
  std::ostringstream out2, err2;
  EXPECT_EQ(client::cli::RunCli({"taskmill", "stats"}, out2, err2, false, lookup), 2);
  EXPECT_NE(err2.str().find("--curve-server-key: given without curve-key-file"), std::string::npos)
      << err2.str();
}

TEST_F(CurveTest, StrangerAndPlainClientsAreRefusedAndStoreNothing) {
  RunEcho("client", "warm up");  // the deployment works for the allowed ones
  ExpectRefused("stranger");
  ASSERT_TRUE(LogShows("public key not in the allow-list: " + stranger_public_));

  // No CURVE at all: the handshake fails on the mechanism; nothing gets through. The client
  // names the cause when it read the broker's greeting before the broker hung up; under load
  // the hang-up can come first (a reset drops the unread greeting), and then all it knows is
  // that no broker answered.
  auto plain = Connect("", 3000);
  ASSERT_TRUE(plain);
  auto id = plain->Submit(Spec("echo", "plain", "strangers"));
  ASSERT_FALSE(id.has_value());
  if (id.error().code == ErrorCode::kUnauthorized) {
    EXPECT_NE(id.error().message.find("requires CURVE"), std::string::npos) << id.error().message;
  } else {
    EXPECT_EQ(id.error().code, ErrorCode::kBrokerUnavailable) << id.error().ToString();
  }
  testing::WireClient raw(cluster_->frontend());
  protocol::Submit submit;
  submit.tasks = {Spec("echo", "raw", "strangers")};
  EXPECT_FALSE(raw.Call(submit, 1500).has_value());

  // An allowed key pair aimed at the wrong server key: the CURVE handshake cannot succeed.
  ClientOptions wrong;
  wrong.endpoint = cluster_->frontend();
  wrong.request_timeout_ms = 1500;
  wrong.curve_server_key = keys_ + "/stranger.pub";
  wrong.curve_key_file = keys_ + "/client.key";
  auto wrong_client = Client::Connect(wrong);
  ASSERT_TRUE(wrong_client.has_value());
  EXPECT_FALSE((*wrong_client)->Stats().has_value());

  // A worker without CURVE: refused at the mechanism, says why, never registers.
  ASSERT_TRUE(cluster_->StartWorker("w-plain", 1, "strangers"));
  std::string plain_log = cluster_->dir() + "/worker-w-plain.log";
  EXPECT_TRUE(WaitFor(
      [&] { return ReadFile(plain_log).find("the broker requires CURVE") != std::string::npos; },
      15000))
      << ReadFile(plain_log);
  auto stats = Connect("client")->Stats();
  ASSERT_TRUE(stats.has_value());
  for (const auto& w : stats->workers) EXPECT_EQ(w.id, "w1");

  EXPECT_EQ(StrangerTasks(), 0u) << "a refused client's task was stored";

  // The count of refusals is in the broker's last words.
  cluster_->broker().Signal(SIGTERM);
  ASSERT_TRUE(cluster_->broker().Wait(15000).has_value());
  std::string log = BrokerLog();
  auto at = log.find("CURVE: ");
  ASSERT_NE(at, std::string::npos) << log;
  uint64_t allowed = 0, refused = 0;
  ASSERT_EQ(std::sscanf(log.c_str() + at, "CURVE: %lu connections allowed, %lu refused", &allowed,
                        &refused),
            2);
  EXPECT_GE(allowed, 2u);  // the worker and the client
  // The stranger (libzmq does not retry a refused connection; a plain client and a wrong
  // server key fail before ZAP is asked).
  EXPECT_GE(refused, 1u);
}

TEST_F(CurveTest, SighupReloadsTheAllowList) {
  // A client that stays up while it is refused, and is let in by the reload.
  auto patient = Connect("stranger", 3000);
  ASSERT_TRUE(patient);
  auto refused = patient->Stats();
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthorized) << refused.error().ToString();
  // A worker with the stranger's key: refused, it keeps re-creating its socket.
  ASSERT_TRUE(cluster_->StartWorker("w-stranger", 1, "strangers", CurveArgs("stranger")));
  auto workers = [&] {
    std::vector<std::string> ids;
    auto stats = Connect("client")->Stats();
    for (const auto& w : stats.value_or(client::StatsReply{}).workers) ids.push_back(w.id);
    return ids;
  };
  auto has_stranger = [&] {
    auto ids = workers();
    return std::find(ids.begin(), ids.end(), "w-stranger") != ids.end();
  };
  std::string worker_log = cluster_->dir() + "/worker-w-stranger.log";
  ASSERT_TRUE(WaitFor(
      [&] {
        return ReadFile(worker_log).find("the broker refused this worker's CURVE key") !=
               std::string::npos;
      },
      15000))
      << ReadFile(worker_log);
  EXPECT_FALSE(has_stranger()) << "a refused worker registered";

  // The stranger is both a client and a worker: its key goes into both role directories.
  fs::copy_file(keys_ + "/stranger.pub", allow_ + "/stranger.pub");
  fs::copy_file(keys_ + "/stranger.pub", workers_ + "/stranger.pub");
  cluster_->broker().Signal(SIGHUP);
  ASSERT_TRUE(LogShows("2 keys loaded (1 before)"));
  RunEcho("stranger", "welcome");
  ASSERT_TRUE(LogShows("allowed CURVE key of 'stranger'"));
  // The refused client redials by itself (backoff up to 5 s) and gets in.
  EXPECT_TRUE(WaitFor([&] { return patient->Stats().has_value(); }, 15000))
      << "the refused client never got in after the reload";
  // The refused worker got in on its own on one of its reconnects.
  EXPECT_TRUE(WaitFor(has_stranger, 15000)) << "the stranger's worker never registered";

  // A broken file: the reload is refused and the old list (with the stranger) stays.
  std::ofstream(allow_ + "/broken.pub") << "curve\n    public-key = \"oops\"\n";
  cluster_->broker().Signal(SIGHUP);
  ASSERT_TRUE(LogShows("keeping the 2 keys loaded before"));
  EXPECT_NE(BrokerLog().find("broken.pub"), std::string::npos);
  RunEcho("stranger", "still welcome");

  fs::remove(allow_ + "/broken.pub");
  fs::remove(allow_ + "/stranger.pub");
  fs::remove(workers_ + "/stranger.pub");
  cluster_->broker().Signal(SIGHUP);
  ASSERT_TRUE(LogShows("1 keys loaded (2 before)"));
  ExpectRefused("stranger");
  RunEcho("client", "the others still work");
  ASSERT_TRUE(cluster_->broker().Running()) << "SIGHUP must not stop the broker";
}

TEST_F(CurveTest, BrokerRefusesToStartWithBrokenKeys) {
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), testing::Binary("broker/taskmill-broker"));
    args.insert(args.end(), {"--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*",
                             "--redis-url", "unix:///nonexistent.sock"});
    std::string cmd;
    for (const auto& a : args) cmd += Quote(a) + " ";
    std::string out = keys_ + "/broker.out";
    int status = std::system((cmd + ">" + Quote(out) + " 2>&1").c_str());
    return std::pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadFile(out));
  };
  auto [code, out] = run({"--curve-secret-key-file", keys_ + "/broker.key"});
  EXPECT_EQ(code, 2);
  EXPECT_NE(out.find("--curve-secret-key-file: needs --curve-allow-dir"), std::string::npos) << out;
  std::tie(code, out) =
      run({"--curve-secret-key-file", keys_ + "/broker.pub", "--curve-allow-dir", allow_});
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("--curve-secret-key-file: " + keys_ + "/broker.pub: no secret-key"),
            std::string::npos)
      << out;
  std::tie(code, out) =
      run({"--curve-secret-key-file", keys_ + "/broker.key", "--curve-allow-dir", keys_ + "/none"});
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("--curve-allow-dir: " + keys_ + "/none is not a directory"), std::string::npos)
      << out;
}

// The real binary: files, modes, refusal to overwrite (exit 2, nothing changed), --force.
TEST(KeygenBinaryTest, WritesModesAndRefusesToOverwrite) {
  std::string dir = MakeTempDir("taskmill-keygen-bin");
  ASSERT_EQ(Keygen("node-1", dir), 0);
  struct stat key_st {
  }, pub_st{};
  ASSERT_EQ(stat((dir + "/node-1.key").c_str(), &key_st), 0);
  ASSERT_EQ(stat((dir + "/node-1.pub").c_str(), &pub_st), 0);
  EXPECT_EQ(key_st.st_mode & 0777, 0600u);
  EXPECT_EQ(pub_st.st_mode & 0777, 0644u);
  std::string key_text = ReadFile(dir + "/node-1.key");
  EXPECT_EQ(key_text.rfind(
                "#   ZeroMQ CURVE **Secret** Certificate\n#   written by taskmill keygen\n", 0),
            0u)
      << key_text;
  EXPECT_EQ(ReadFile(dir + "/node-1.pub").rfind("#   ZeroMQ CURVE Public Certificate\n", 0), 0u);

  EXPECT_EQ(Keygen("node-1", dir), 2);
  EXPECT_EQ(ReadFile(dir + "/node-1.key"), key_text) << "overwritten without --force";
  std::string cmd = Quote(testing::Binary("client/taskmill")) + " keygen node-1 --force --dir " +
                    Quote(dir) + " >/dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_NE(ReadFile(dir + "/node-1.key"), key_text);
  EXPECT_TRUE(LoadCurveKeyFile(dir + "/node-1.key").has_value());
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// The Redis password, given in the URL or in a file, with the right value or a wrong one,
// never appears in the broker's log, even at trace level.
TEST(RedisAuthLogTest, PasswordNeverReachesTheBrokerLog) {
  auto server = testing::RedisServer::Start(testing::RedisServer::Options{.tcp = true});
  ASSERT_TRUE(server.has_value()) << server.error().ToString();
  int port = (*server)->config().port;
  const std::string password = "pw-" + std::to_string(getpid()) + "-Zq9x";
  const std::string wrong = "wrong-" + std::to_string(getpid()) + "-Kk3v";
  {
    broker::RedisConnection admin((*server)->config());
    admin.Start();
    ASSERT_TRUE(broker::RunUntil(
        admin, [&] { return admin.ready(); }, 10000));
    bool done = false;
    admin.Command({"CONFIG", "SET", "requirepass", password}, [&](auto) { done = true; });
    ASSERT_TRUE(broker::RunUntil(
        admin, [&] { return done; }, 10000));
  }
  std::string dir = MakeTempDir("taskmill-redis-auth");
  std::string hostport = "127.0.0.1:" + std::to_string(port);
  std::ofstream(dir + "/redis.pw") << password << "\n";
  struct Case {
    std::string name;
    std::string url;
    std::vector<std::string> extra;
    bool serves;
  };
  std::vector<Case> cases = {
      {"url", "redis://:" + password + "@" + hostport + "/0", {}, true},
      {"file", "redis://" + hostport + "/0", {"--redis-password-file", dir + "/redis.pw"}, true},
      {"wrong", "redis://:" + wrong + "@" + hostport + "/0", {}, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string case_dir = dir + "/" + c.name;
    fs::create_directory(case_dir);
    testing::BrokerLaunch launch;
    launch.dir = case_dir;
    launch.redis_url = c.url;
    launch.prefix = "auth" + std::to_string(getpid()) + c.name + ":";
    launch.extra_args = c.extra;
    launch.extra_args.insert(launch.extra_args.end(), {"--log-level", "trace"});
    testing::ChildProcess broker;
    std::string log_path = case_dir + "/broker.log";
    auto endpoints = testing::LaunchBroker(launch, broker, [&] { return ReadFile(log_path); });
    ASSERT_TRUE(endpoints.has_value()) << endpoints.error().message;
    testing::WireClient wire(endpoints->frontend);
    protocol::Submit submit;
    submit.tasks = {Spec("echo", "x")};
    auto reply = wire.Call(submit, 5000);
    ASSERT_TRUE(reply.has_value()) << reply.error().ToString();
    EXPECT_EQ(!reply->error.has_value(), c.serves) << ReadFile(log_path);
    broker.Signal(SIGTERM);
    ASSERT_TRUE(broker.Wait(15000).has_value());
    std::string log = ReadFile(log_path);
    EXPECT_FALSE(log.empty());
    if (!c.serves) {
      EXPECT_NE(log.find("AUTH"), std::string::npos) << log;
    }
    EXPECT_EQ(log.find(password), std::string::npos) << "the password leaked:\n" << log;
    EXPECT_EQ(log.find(wrong), std::string::npos) << "the wrong password leaked:\n" << log;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace taskmill
