#pragma once

#include <string>
#include <string_view>

#include "taskmill/shared/error.h"

namespace taskmill::broker {

// Where and how to reach Redis. Plain value; built once from flags and passed by const ref.
struct RedisConfig {
  std::string host;       // TCP host; empty when unix_path is set
  int port = 6379;        // TCP port
  std::string unix_path;  // unix socket path; takes precedence over host/port
  std::string username;   // ACL user for AUTH; empty = the default user
  std::string password;   // AUTH password; empty = no AUTH. Never logged.
  int db = 0;             // SELECT index

  // "redis://host:port/db" or "unix:///path?db=N", credentials redacted; safe to log.
  std::string Describe() const;
};

// Parses "redis://[[user]:password@]host[:port][/db]" or "unix://[[user]:password@]/path[?db=N]".
// Errors (kInvalidArgument) say which part is wrong and never echo the password.
Result<RedisConfig> ParseRedisUrl(std::string_view url);

// Reads a password from a file (e.g. a Kubernetes secret mount); one trailing newline is
// dropped. An empty file is an error.
Result<std::string> ReadPasswordFile(const std::string& path);

}  // namespace taskmill::broker
