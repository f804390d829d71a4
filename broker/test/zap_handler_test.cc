// The ZAP handler spoken to as libzmq speaks to it (a REQ socket on inproc, RFC 27 frames):
// allowed and refused keys, malformed requests, reloads (good and broken), and that each
// refused key is logged once.

#include "net/zap_handler.h"
#include "service/authz.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "taskmill/shared/curve_keys.h"
#include "taskmill/shared/log.h"

namespace taskmill::broker {
namespace {

namespace fs = std::filesystem;

struct ZapReply {
  std::string version, request_id, status, status_text, user_id;
  size_t frames = 0;
};

class ZapHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "taskmill-zap-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(fs::create_directory(dir_ + "/allowed"));
    alice_ = NewKey("alice", dir_ + "/allowed");
    bob_ = NewKey("bob", dir_);  // not in the allow dir
    sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_);
    Logger("broker.zap")->sinks().push_back(sink_);
  }
  void TearDown() override {
    auto& sinks = Logger("broker.zap")->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  CurveKeyPair NewKey(const std::string& name, const std::string& dir) {
    auto keys = GenerateCurveKeyPair();
    EXPECT_TRUE(keys.has_value());
    EXPECT_TRUE(WriteCurveKeyFiles(dir, name, *keys, false));
    return *keys;
  }
  // One request through `zap`, as libzmq's session sends it.
  ZapReply Ask(ZapHandler& zap, zmq::socket_t& req, std::vector<std::string> frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
      req.send(zmq::buffer(frames[i]),
               i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
    zmq::pollitem_t item{zap.handle(), 0, ZMQ_POLLIN, 0};
    EXPECT_EQ(zmq::poll(&item, 1, std::chrono::milliseconds(2000)), 1);
    zap.HandleRequests();
    ZapReply r;
    std::vector<std::string*> fields = {&r.version, &r.request_id, &r.status, &r.status_text,
                                        &r.user_id};
    do {
      zmq::message_t part;
      EXPECT_TRUE(req.recv(part));
      if (r.frames < fields.size()) *fields[r.frames] = part.to_string();
      ++r.frames;
      if (!part.more()) break;
    } while (true);
    return r;
  }
  static std::vector<std::string> CurveRequest(const std::string& id, const CurveKeyPair& keys) {
    return {"1.0", id, "taskmill", "127.0.0.1", "", "CURVE", *DecodeZ85Key(keys.public_key)};
  }

  std::string dir_;
  CurveKeyPair alice_, bob_;
  std::ostringstream log_;
  spdlog::sink_ptr sink_;
  FakeClock clock_;
};

TEST_F(ZapHandlerTest, AllowsListedKeysAndRefusesOthers) {
  auto allow = CurveAllowList::Load(dir_ + "/allowed");
  ASSERT_TRUE(allow.has_value()) << allow.error().message;
  EXPECT_EQ(allow->size(), 1u);
  zmq::context_t ctx;
  ZapHandler zap(ctx, std::move(*allow), clock_);
  ASSERT_TRUE(zap.Bind());
  zmq::socket_t req(ctx, zmq::socket_type::req);
  req.connect(ZapHandler::kEndpoint);

  ZapReply ok = Ask(zap, req, CurveRequest("7", alice_));
  EXPECT_EQ(ok.frames, 6u);
  EXPECT_EQ(ok.version, "1.0");
  EXPECT_EQ(ok.request_id, "7");
  EXPECT_EQ(ok.status, "200");
  EXPECT_EQ(ok.user_id, alice_.public_key);  // the key: names may repeat across role dirs

  ZapReply no = Ask(zap, req, CurveRequest("8", bob_));
  EXPECT_EQ(no.request_id, "8");
  EXPECT_EQ(no.status, "400");
  EXPECT_EQ(no.user_id, "");
  // A refused peer retries; it is counted every time and logged once.
  EXPECT_EQ(Ask(zap, req, CurveRequest("9", bob_)).status, "400");
  EXPECT_EQ(zap.counters().allowed, 1u);
  EXPECT_EQ(zap.counters().refused, 2u);
  std::string log = log_.str();
  size_t first = log.find(
      "refused CURVE connection from 127.0.0.1: public key not in the "
      "allow-list: " +
      bob_.public_key);
  EXPECT_NE(first, std::string::npos) << log;
  size_t key_at = log.find(bob_.public_key);
  EXPECT_EQ(log.find(bob_.public_key, key_at + 1), std::string::npos) << "logged twice: " << log;
  EXPECT_EQ(log.find(bob_.secret_key), std::string::npos);
}

TEST_F(ZapHandlerTest, MalformedRequestsAndOtherMechanismsGet400) {
  auto allow = CurveAllowList::Load(dir_ + "/allowed");
  ASSERT_TRUE(allow.has_value());
  zmq::context_t ctx;
  ZapHandler zap(ctx, std::move(*allow), clock_);
  ASSERT_TRUE(zap.Bind());
  zmq::socket_t req(ctx, zmq::socket_type::req);
  req.connect(ZapHandler::kEndpoint);
  EXPECT_EQ(Ask(zap, req, {"2.0", "1", "taskmill", "a", "", "CURVE", "x"}).status, "400");
  EXPECT_EQ(Ask(zap, req, {"1.0", "2"}).status, "400");
  EXPECT_EQ(Ask(zap, req, {"1.0", "3", "taskmill", "a", "", "NULL"}).status, "400");
  EXPECT_EQ(Ask(zap, req, {"1.0", "4", "taskmill", "a", "", "CURVE", "short"}).status, "400");
  EXPECT_EQ(zap.counters().malformed, 2u);
  EXPECT_EQ(zap.counters().refused, 2u);
  // Still serving after all that.
  EXPECT_EQ(Ask(zap, req, CurveRequest("5", alice_)).status, "200");
}

TEST_F(ZapHandlerTest, ReloadPicksUpChangesAndKeepsTheOldListOnError) {
  auto allow = CurveAllowList::Load(dir_ + "/allowed");
  ASSERT_TRUE(allow.has_value());
  zmq::context_t ctx;
  ZapHandler zap(ctx, std::move(*allow), clock_);
  ASSERT_TRUE(zap.Bind());
  zmq::socket_t req(ctx, zmq::socket_type::req);
  req.connect(ZapHandler::kEndpoint);
  EXPECT_EQ(Ask(zap, req, CurveRequest("1", bob_)).status, "400");

  fs::copy_file(dir_ + "/bob.pub", dir_ + "/allowed/bob.pub");
  auto reloaded = zap.Reload();
  ASSERT_TRUE(reloaded.has_value()) << reloaded.error().message;
  EXPECT_EQ(*reloaded, 2u);
  ZapReply bob = Ask(zap, req, CurveRequest("2", bob_));
  EXPECT_EQ(bob.status, "200");
  EXPECT_EQ(bob.user_id, bob_.public_key);

  // A broken .pub: the reload fails naming the file, and the old list stays in force.
  std::ofstream(dir_ + "/allowed/broken.pub") << "curve\n    public-key = \"nope\"\n";
  auto broken = zap.Reload();
  ASSERT_FALSE(broken.has_value());
  EXPECT_NE(broken.error().message.find("broken.pub"), std::string::npos) << broken.error().message;
  EXPECT_EQ(zap.allow_list().size(), 2u);
  EXPECT_EQ(Ask(zap, req, CurveRequest("3", bob_)).status, "200");

  fs::remove(dir_ + "/allowed/broken.pub");
  fs::remove(dir_ + "/allowed/bob.pub");
  ASSERT_EQ(zap.Reload().value_or(99), 1u);
  EXPECT_EQ(Ask(zap, req, CurveRequest("4", bob_)).status, "400");
  EXPECT_EQ(Ask(zap, req, CurveRequest("5", alice_)).status, "200");
}

// Issue 13: a key in any role directory may connect; its roles are the directories it is in,
// and only those by default; --curve-roles=shared leaves the role of a directory not given to
// the client keys (one allow-list, as before roles).
TEST_F(ZapHandlerTest, RolesComeFromTheDirectoriesAKeyIsIn) {
  fs::create_directory(dir_ + "/workers");
  fs::create_directory(dir_ + "/admins");
  fs::copy_file(dir_ + "/bob.pub", dir_ + "/workers/bob.pub");
  auto clients = CurveAllowList::Load(dir_ + "/allowed");
  auto workers = CurveAllowList::Load(dir_ + "/workers");
  auto admins = CurveAllowList::Load(dir_ + "/admins");
  ASSERT_TRUE(clients && workers && admins);
  zmq::context_t ctx;
  ZapHandler zap(ctx, *clients, clock_, *workers, *admins);
  ASSERT_TRUE(zap.Bind());
  zmq::socket_t req(ctx, zmq::socket_type::req);
  req.connect(ZapHandler::kEndpoint);
  EXPECT_EQ(Ask(zap, req, CurveRequest("1", bob_)).status, "200");  // a worker key gets in
  AccessPolicy roles(&zap);
  Principal alice = roles.Identify(alice_.public_key);
  Principal bob = roles.Identify(bob_.public_key);
  EXPECT_EQ(alice.roles, kRoleClient);
  EXPECT_EQ(bob.roles, kRoleWorker);
  EXPECT_EQ(bob.name, "bob");
  auto refused = roles.Require(alice, kRoleAdmin, "DLQ");
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kForbidden);
  EXPECT_EQ(refused.error().message,
            "DLQ needs the admin role; this key ('alice') has client: its .pub belongs in the "
            "broker's --curve-admin-allow-dir");
  EXPECT_TRUE(roles.Require(bob, kRoleWorker, "READY").has_value());
  EXPECT_EQ(AccessPolicy::OwnerFilter(alice), alice_.public_key);
  // SIGHUP re-reads every directory: bob becomes an admin too.
  fs::copy_file(dir_ + "/bob.pub", dir_ + "/admins/bob.pub");
  ASSERT_TRUE(zap.Reload().has_value());
  EXPECT_EQ(roles.Identify(bob_.public_key).roles, kRoleWorker | kRoleAdmin);
  EXPECT_EQ(AccessPolicy::OwnerFilter(roles.Identify(bob_.public_key)), "");

  // Without role directories, a client key is a client and nothing else by default...
  ZapHandler legacy(ctx, *clients, clock_);
  AccessPolicy split(&legacy);
  EXPECT_FALSE(split.shared_roles());
  EXPECT_EQ(split.Identify(alice_.public_key).roles, kRoleClient);
  EXPECT_FALSE(split.Require(split.Identify(alice_.public_key), kRoleWorker, "READY"));
  // ... and has every role with --curve-roles=shared (the escape hatch for upgrades).
  AccessPolicy one_list(&legacy, /*shared_roles=*/true);
  EXPECT_TRUE(one_list.shared_roles());
  EXPECT_EQ(one_list.Identify(alice_.public_key).roles, kRoleClient | kRoleWorker | kRoleAdmin);
  EXPECT_EQ(one_list.Identify(bob_.public_key).roles, 0);
  // Shared with a worker directory given: client keys are admins, workers come from it.
  AccessPolicy shared_with_workers(&zap, /*shared_roles=*/true);
  EXPECT_EQ(shared_with_workers.Identify(alice_.public_key).roles, kRoleClient);
  // Without CURVE, everyone has every role and nothing is owned.
  Principal anyone = AccessPolicy().Identify("");
  EXPECT_EQ(anyone.roles, kRoleClient | kRoleWorker | kRoleAdmin);
  EXPECT_EQ(AccessPolicy::OwnerFilter(anyone), "");
}

TEST(WorkerBindingsTest, AWorkerIdStaysWithItsKeyUntilItExpires) {
  WorkerBindings b;
  EXPECT_TRUE(b.Bind("w1", "key-a", 0));
  EXPECT_FALSE(b.Bind("w1", "key-b", 1000));
  EXPECT_TRUE(b.Bind("w1", "key-a", 2000));
  b.Touch("w1", WorkerBindings::kTtlMs);
  EXPECT_FALSE(b.Bind("w1", "key-b", 2 * WorkerBindings::kTtlMs));
  EXPECT_TRUE(b.Bind("w1", "key-b", 2 * WorkerBindings::kTtlMs + 1));
}

TEST_F(ZapHandlerTest, AllowDirIgnoresOtherFilesAndMustExist) {
  std::ofstream(dir_ + "/allowed/README") << "not a key";
  std::ofstream(dir_ + "/allowed/.hidden.pub") << "not a key";
  auto allow = CurveAllowList::Load(dir_ + "/allowed");
  ASSERT_TRUE(allow.has_value()) << allow.error().message;
  EXPECT_EQ(allow->size(), 1u);  // alice.key and alice.pub are one key; README is skipped
  auto missing = CurveAllowList::Load(dir_ + "/nope");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("is not a directory"), std::string::npos);
}

}  // namespace
}  // namespace taskmill::broker
