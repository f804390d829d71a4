#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "taskmill/shared/error.h"

namespace taskmill::broker {

// One TCP address: a Sentinel, or the master a Sentinel named.
struct RedisEndpoint {
  std::string host;
  int port = 0;
  bool operator==(const RedisEndpoint&) const = default;
};

// Where and how to reach Redis. Plain value; built once from flags and passed by const ref.
// With `sentinels` set, host/port are not used: every connection asks LocateRedis
// (redis/master_locator.h) for the current master instead.
struct RedisConfig {
  std::string host;       // TCP host; empty when unix_path is set
  int port = 6379;        // TCP port
  std::string unix_path;  // unix socket path; takes precedence over host/port
  std::string username;   // ACL user for AUTH; empty = the default user
  std::string password;   // AUTH password; empty = no AUTH. Never logged.
  int db = 0;             // SELECT index
  // Sentinel mode (redis+sentinel://): the Sentinels to ask, in order; empty = not Sentinel.
  std::vector<RedisEndpoint> sentinels;
  std::string master_name;        // the master group name Sentinel monitors
  std::string sentinel_password;  // AUTH for the Sentinels; empty = none. Never logged.

  bool sentinel_mode() const { return !sentinels.empty(); }

  // "redis://host:port/db", "unix:///path?db=N" or "redis+sentinel://s1:p,s2:p/master/db",
  // credentials redacted; safe to log.
  std::string Describe() const;
};

// "host:port", or "[v6]:port" for an IPv6 address.
std::string RedisEndpointText(const RedisEndpoint& ep);

// Parses "redis://[[user]:password@]host[:port][/db]", "unix://[[user]:password@]/path[?db=N]"
// or "redis+sentinel://[[user]:password@]host:port[,host:port...]/master[/db]" (the
// credentials are the data nodes'; the Sentinels' password comes from
// --redis-sentinel-password-file, never the URL).
// Errors (kInvalidArgument) say which part is wrong and never echo the password.
Result<RedisConfig> ParseRedisUrl(std::string_view url);

// Reads a password from a file (e.g. a Kubernetes secret mount); one trailing newline is
// dropped. An empty file is an error.
Result<std::string> ReadPasswordFile(const std::string& path);

}  // namespace taskmill::broker
