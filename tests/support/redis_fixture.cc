#include "support/redis_fixture.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>

namespace taskmill::testing {

Result<int> FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return MakeError(ErrorCode::kInternal, "socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return MakeError(ErrorCode::kInternal, "bind to a free port failed");
  }
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

Result<std::unique_ptr<RedisServer>> RedisServer::Start(Options options) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "tm-redis-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    return MakeError(ErrorCode::kInternal, "mkdtemp failed for " + tmpl);
  }
  broker::EmbeddedRedisOptions eo;
  eo.data_dir = tmpl;
  eo.appendfsync = options.appendfsync;
  if (options.tcp) {
    auto port = FreeLoopbackPort();
    if (!port) return std::unexpected(port.error());
    eo.port = *port;
  }
  auto redis = broker::EmbeddedRedis::Start(std::move(eo));
  if (!redis) {
    std::filesystem::remove_all(tmpl);
    return std::unexpected(redis.error());
  }
  return std::unique_ptr<RedisServer>(
      new RedisServer(tmpl, std::make_unique<broker::EmbeddedRedis>(std::move(*redis))));
}

RedisServer::~RedisServer() {
  (void)redis_->Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

broker::RedisConfig RedisServer::config() const {
  broker::RedisConfig cfg = redis_->config();
  if (redis_->port() != 0) {
    cfg.unix_path.clear();
    cfg.host = "127.0.0.1";
    cfg.port = redis_->port();
  }
  return cfg;
}

std::string UniquePrefix() {
  static std::atomic<int> n{0};
  std::string name = "anon";
  if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info()) {
    name = std::string(info->test_suite_name()) + "." + info->name();
  }
  for (char& c : name) {
    if (c == '/' || c == ':') c = '_';
  }
  return "t" + std::to_string(getpid()) + "." + name + "." + std::to_string(++n) + ":";
}

void RedisTest::SetUpTestSuite() {
  if (server_) return;
  auto s = RedisServer::Start();
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  server_ = std::move(*s);
}

void RedisTest::TearDownTestSuite() { server_.reset(); }

void RedisTest::SetUp() {
  ASSERT_NE(server_, nullptr) << "redis-server did not start";
  // A test may have killed it; every test starts with a live server.
  auto restarted = server_->process().RestartIfDied();
  ASSERT_TRUE(restarted.has_value()) << restarted.error().ToString();
  prefix_ = UniquePrefix();
  conn_ = Connect();
  ASSERT_NE(conn_, nullptr);
  ASSERT_TRUE(conn_->ready()) << conn_->last_error();
}

void RedisTest::TearDown() { conn_.reset(); }

bool RedisTest::Until(const std::function<bool()>& pred, int64_t timeout_ms) {
  return broker::RunUntil(*conn_, pred, timeout_ms);
}

std::unique_ptr<broker::RedisConnection> RedisTest::Connect(bool wait_ready) {
  auto conn = std::make_unique<broker::RedisConnection>(server_->config());
  conn->Start();
  if (wait_ready)
    broker::RunUntil(
        *conn, [&] { return conn->ready(); }, 10000);
  return conn;
}

}  // namespace taskmill::testing
