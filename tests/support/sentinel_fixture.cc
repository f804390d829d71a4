#include "support/sentinel_fixture.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "redis/master_locator.h"
#include "support/launch.h"
#include "support/redis_fixture.h"

namespace taskmill::testing {
namespace {

std::string RedisServerPath() {
  for (const char* p : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "/usr/bin/redis-server";
}

// A flat array reply (SENTINEL MASTER) as a map.
std::map<std::string, std::string> Fields(const redisReply* r) {
  std::map<std::string, std::string> out;
  if (r->type != REDIS_REPLY_ARRAY) return out;
  for (size_t i = 0; i + 1 < r->elements; i += 2) {
    if (r->element[i]->type != REDIS_REPLY_STRING) continue;
    const redisReply* v = r->element[i + 1];
    out[std::string(r->element[i]->str, r->element[i]->len)] =
        v->type == REDIS_REPLY_STRING ? std::string(v->str, v->len) : "";
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<SentinelGroup>> SentinelGroup::Start(Options options) {
  std::unique_ptr<SentinelGroup> g(new SentinelGroup(std::move(options)));
  std::string tmpl = (std::filesystem::temp_directory_path() / "tm-sentinel-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return MakeError(ErrorCode::kInternal, "mkdtemp failed");
  g->dir_ = tmpl;
  for (int i = 0; i <= g->options_.replicas; ++i) {
    auto port = FreeLoopbackPort();
    if (!port) return std::unexpected(port.error());
    broker::EmbeddedRedisOptions eo;
    eo.data_dir = g->dir_ + "/node" + std::to_string(i);
    eo.port = *port;
    eo.appendfsync = g->options_.appendfsync;
    // A primary starts a replica's first (diskless) sync at once, not after the default 5 s
    // wait for more replicas; any node may be promoted.
    eo.extra_args = {"--repl-diskless-sync-delay", "0"};
    if (i > 0) {
      eo.extra_args.insert(eo.extra_args.end(),
                           {"--replicaof", "127.0.0.1", std::to_string(g->nodes_[0]->port())});
    }
    auto node = broker::EmbeddedRedis::Start(std::move(eo));
    if (!node) return std::unexpected(node.error());
    g->nodes_.push_back(std::make_unique<broker::EmbeddedRedis>(std::move(*node)));
  }
  for (int i = 0; i < g->options_.sentinels; ++i) {
    auto port = FreeLoopbackPort();
    if (!port) return std::unexpected(port.error());
    std::string sdir = g->dir_ + "/sentinel" + std::to_string(i);
    std::filesystem::create_directories(sdir);
    const std::string& m = g->options_.master_name;
    std::ofstream conf(sdir + "/sentinel.conf");
    conf << "port " << *port << "\nbind 127.0.0.1\ndaemonize no\ndir " << sdir
         << "\nlogfile " << sdir << "/sentinel.log\n"
         << "sentinel monitor " << m << " 127.0.0.1 " << g->nodes_[0]->port() << " "
         << g->options_.quorum << "\n"
         << "sentinel down-after-milliseconds " << m << " " << g->options_.down_after_ms << "\n"
         << "sentinel failover-timeout " << m << " " << g->options_.failover_timeout_ms << "\n"
         << "sentinel parallel-syncs " << m << " 1\n";
    conf.close();
    auto child = ChildProcess::Spawn({RedisServerPath(), sdir + "/sentinel.conf", "--sentinel"},
                                     sdir + "/stdout.log");
    if (!child) return std::unexpected(child.error());
    g->sentinels_.push_back(std::move(*child));
    g->sentinel_ports_.push_back(*port);
  }
  return g;
}

SentinelGroup::~SentinelGroup() {
  for (auto& s : sentinels_) s.Kill9();
  for (auto& n : nodes_) n->Kill();
  std::error_code ec;
  const char* keep = std::getenv("TASKMILL_CHAOS_KEEP");
  if (!dir_.empty() && !(keep != nullptr && std::string(keep) == "1")) {
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string SentinelGroup::Url() const {
  std::string url = "redis+sentinel://";
  for (size_t i = 0; i < sentinel_ports_.size(); ++i) {
    url += (i == 0 ? "127.0.0.1:" : ",127.0.0.1:") + std::to_string(sentinel_ports_[i]);
  }
  return url + "/" + options_.master_name;
}

broker::RedisConfig SentinelGroup::NodeConfig(size_t i) const {
  broker::RedisConfig c;
  c.host = "127.0.0.1";
  c.port = node_port(i);
  return c;
}

Result<broker::RedisReplyPtr> SentinelGroup::Ask(int port, const std::vector<std::string>& args) {
  broker::RedisConfig c;
  c.host = "127.0.0.1";
  c.port = port;
  broker::SyncRedis redis(c, 1000);
  return redis.Command(args);
}

Result<size_t> SentinelGroup::CurrentMaster() {
  // The broker's own discovery: the first Sentinel answer whose ROLE says master.
  auto config = broker::ParseRedisUrl(Url());
  if (!config) return std::unexpected(config.error());
  auto master = broker::LocateRedis(*config, 1000);
  if (!master) return std::unexpected(master.error());
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i]->port() == master->port) return i;
  }
  return MakeError(ErrorCode::kStoreUnavailable,
                   "the master is port " + std::to_string(master->port) + ", not in the group");
}

Result<size_t> SentinelGroup::AwaitFailover(size_t old_master, int64_t timeout_ms) {
  size_t found = old_master;
  WaitFor(
      [&] {
        auto m = CurrentMaster();
        if (m && *m != old_master) found = *m;
        return found != old_master;
      },
      timeout_ms);
  if (found == old_master) {
    return MakeError(ErrorCode::kTimeout, "no failover within " + std::to_string(timeout_ms) +
                                              " ms\n" + Logs());
  }
  return found;
}

Result<void> SentinelGroup::AwaitReady(int64_t timeout_ms) {
  const std::string replicas = std::to_string(options_.replicas);
  const std::string others = std::to_string(options_.sentinels - 1);
  bool ok = WaitFor(
      [&] {
        for (int port : sentinel_ports_) {
          auto r = Ask(port, {"SENTINEL", "MASTER", options_.master_name});
          if (!r) return false;
          auto f = Fields(r->get());
          if (f["num-slaves"] != replicas || f["num-other-sentinels"] != others) return false;
        }
        for (size_t i = 1; i < nodes_.size(); ++i) {
          auto info = Ask(nodes_[i]->port(), {"INFO", "replication"});
          if (!info || std::string((*info)->str).find("master_link_status:up") ==
                           std::string::npos) {
            return false;
          }
        }
        return true;
      },
      timeout_ms);
  if (!ok) {
    return MakeError(ErrorCode::kTimeout,
                     "Sentinel group not ready within " + std::to_string(timeout_ms) + " ms\n" +
                         Logs());
  }
  return {};
}

Result<void> SentinelGroup::CutReplicaLinks(size_t i) {
  broker::SyncRedis redis(NodeConfig(i), 1000);
  if (auto r = redis.Command({"CONFIG", "SET", "requirepass", "cut-" + std::to_string(getpid())});
      !r) {
    return std::unexpected(r.error());
  }
  if (auto r = redis.Command({"CLIENT", "KILL", "TYPE", "replica"}); !r) {
    return std::unexpected(r.error());
  }
  return {};
}

std::string SentinelGroup::Logs() const {
  std::string out;
  auto tail = [&](const std::string& name, const std::string& path) {
    std::string text = ReadFile(path);
    if (text.size() > 3000) text = text.substr(text.size() - 3000);
    out += "---- " + name + " ----\n" + text;
  };
  for (size_t i = 0; i < nodes_.size(); ++i) {
    tail("node" + std::to_string(i), nodes_[i]->data_dir() + "/redis.log");
  }
  for (size_t i = 0; i < sentinel_ports_.size(); ++i) {
    tail("sentinel" + std::to_string(i),
         dir_ + "/sentinel" + std::to_string(i) + "/sentinel.log");
  }
  return out;
}

}  // namespace taskmill::testing
