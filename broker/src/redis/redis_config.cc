#include "redis/redis_config.h"

#include <charconv>
#include <fstream>
#include <sstream>

namespace taskmill::broker {
namespace {

Result<int> ParseInt(std::string_view text, int min, int max, std::string_view what) {
  int v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < min || v > max) {
    return MakeError(ErrorCode::kInvalidArgument, "redis url: " + std::string(what) + " '" +
                                                      std::string(text) + "' is not a number in [" +
                                                      std::to_string(min) + ", " +
                                                      std::to_string(max) + "]");
  }
  return v;
}

// Splits "[user]:password@rest" off the front; a bare "user@" is not accepted.
Result<std::string_view> TakeCredentials(std::string_view rest, RedisConfig& cfg) {
  size_t at = rest.rfind('@');
  if (at == std::string_view::npos) return rest;
  std::string_view cred = rest.substr(0, at);
  size_t colon = cred.find(':');
  if (colon == std::string_view::npos) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "redis url: credentials must be ':password@' or 'user:password@'");
  }
  cfg.username = std::string(cred.substr(0, colon));
  cfg.password = std::string(cred.substr(colon + 1));
  if (cfg.password.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "redis url: empty password before '@'");
  }
  return rest.substr(at + 1);
}

// "host:port" or "[v6]:port"; without a port, `default_port`.
Result<RedisEndpoint> ParseHostPort(std::string_view hostport, int default_port) {
  RedisEndpoint ep;
  ep.port = default_port;
  std::string_view host = hostport;
  if (hostport.starts_with('[')) {  // [ipv6]:port
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) {
      return MakeError(ErrorCode::kInvalidArgument, "redis url: unterminated '[' in host");
    }
    host = hostport.substr(1, close - 1);
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) {
        return MakeError(ErrorCode::kInvalidArgument, "redis url: expected ':port' after ']'");
      }
      auto port = ParseInt(after.substr(1), 1, 65535, "port");
      if (!port) return std::unexpected(port.error());
      ep.port = *port;
    }
  } else if (size_t colon = hostport.rfind(':'); colon != std::string_view::npos) {
    host = hostport.substr(0, colon);
    auto port = ParseInt(hostport.substr(colon + 1), 1, 65535, "port");
    if (!port) return std::unexpected(port.error());
    ep.port = *port;
  }
  if (host.empty()) return MakeError(ErrorCode::kInvalidArgument, "redis url: missing host");
  ep.host = std::string(host);
  return ep;
}

constexpr size_t kMaxSentinels = 16;

// "s1:26379,s2:26379/mymaster[/db]" (credentials already taken off).
Result<RedisConfig> ParseSentinelRest(std::string_view rest, RedisConfig cfg) {
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 >= rest.size()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "redis url: redis+sentinel:// needs the master name: "
                     "redis+sentinel://host:port[,host:port...]/MASTER[/db]");
  }
  std::string_view hosts = rest.substr(0, slash);
  std::string_view path = rest.substr(slash + 1);
  size_t db_slash = path.find('/');
  std::string_view master = path.substr(0, db_slash);
  if (db_slash != std::string_view::npos && db_slash + 1 < path.size()) {
    auto db = ParseInt(path.substr(db_slash + 1), 0, 1 << 20, "database");
    if (!db) return std::unexpected(db.error());
    cfg.db = *db;
  }
  if (master.empty() || master.size() > 256 ||
      master.find_first_of(" \t\r\n?#@,/") != std::string_view::npos) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "redis url: bad master name '" + std::string(master) + "'");
  }
  cfg.master_name = std::string(master);
  while (true) {
    size_t comma = hosts.find(',');
    std::string_view item = hosts.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) {
      return MakeError(ErrorCode::kInvalidArgument, "redis url: empty Sentinel address in list");
    }
    auto ep = ParseHostPort(item, 26379);
    if (!ep) return std::unexpected(ep.error());
    if (cfg.sentinels.size() == kMaxSentinels) {
      return MakeError(ErrorCode::kInvalidArgument, "redis url: more than 16 Sentinels");
    }
    cfg.sentinels.push_back(std::move(*ep));
    if (comma == std::string_view::npos) break;
    hosts.remove_prefix(comma + 1);
  }
  return cfg;
}

}  // namespace

std::string RedisEndpointText(const RedisEndpoint& ep) {
  bool v6 = ep.host.find(':') != std::string::npos;
  return (v6 ? "[" + ep.host + "]" : ep.host) + ":" + std::to_string(ep.port);
}

std::string RedisConfig::Describe() const {
  std::string cred = password.empty() ? "" : (username + ":***@");
  if (sentinel_mode()) {
    std::string out = "redis+sentinel://" + cred;
    for (size_t i = 0; i < sentinels.size(); ++i) {
      out += (i == 0 ? "" : ",") + RedisEndpointText(sentinels[i]);
    }
    return out + "/" + master_name + "/" + std::to_string(db);
  }
  if (!unix_path.empty()) {
    return "unix://" + cred + unix_path + (db != 0 ? "?db=" + std::to_string(db) : "");
  }
  return "redis://" + cred + host + ":" + std::to_string(port) + "/" + std::to_string(db);
}

Result<RedisConfig> ParseRedisUrl(std::string_view url) {
  RedisConfig cfg;
  constexpr std::string_view kRedis = "redis://";
  constexpr std::string_view kUnix = "unix://";
  constexpr std::string_view kSentinel = "redis+sentinel://";
  if (url.starts_with(kSentinel)) {
    auto rest = TakeCredentials(url.substr(kSentinel.size()), cfg);
    if (!rest) return std::unexpected(rest.error());
    return ParseSentinelRest(*rest, std::move(cfg));
  }
  if (url.starts_with(kUnix)) {
    auto rest = TakeCredentials(url.substr(kUnix.size()), cfg);
    if (!rest) return std::unexpected(rest.error());
    std::string_view path = *rest;
    size_t q = path.find('?');
    if (q != std::string_view::npos) {
      std::string_view query = path.substr(q + 1);
      path = path.substr(0, q);
      if (!query.starts_with("db=")) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "redis url: the only unix:// query parameter is db=N");
      }
      auto db = ParseInt(query.substr(3), 0, 1 << 20, "database");
      if (!db) return std::unexpected(db.error());
      cfg.db = *db;
    }
    if (!path.starts_with('/')) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "redis url: unix:// needs an absolute socket path, e.g. "
                       "unix:///run/redis.sock");
    }
    cfg.unix_path = std::string(path);
    return cfg;
  }
  if (!url.starts_with(kRedis)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "redis url must start with redis://, unix:// or redis+sentinel:// (rediss:// "
                     "TLS is not supported)");
  }
  auto rest_or = TakeCredentials(url.substr(kRedis.size()), cfg);
  if (!rest_or) return std::unexpected(rest_or.error());
  std::string_view rest = *rest_or;
  size_t slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  if (slash != std::string_view::npos && slash + 1 < rest.size()) {
    auto db = ParseInt(rest.substr(slash + 1), 0, 1 << 20, "database");
    if (!db) return std::unexpected(db.error());
    cfg.db = *db;
  }
  auto ep = ParseHostPort(hostport, 6379);
  if (!ep) return std::unexpected(ep.error());
  cfg.host = std::move(ep->host);
  cfg.port = ep->port;
  return cfg;
}

Result<std::string> ReadPasswordFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "redis password file '" + path + "' cannot be read");
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string pw = ss.str();
  if (!pw.empty() && pw.back() == '\n') pw.pop_back();
  if (!pw.empty() && pw.back() == '\r') pw.pop_back();
  if (pw.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "redis password file '" + path + "' is empty");
  }
  return pw;
}

}  // namespace taskmill::broker
