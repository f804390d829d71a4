// FormatCommand against hiredis's own formatter, which it replaces on the hot path.

#include "redis/resp_format.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <string>
#include <vector>

namespace taskmill::broker {
namespace {

std::string Hiredis(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  int n = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv.data(), lens.data());
  std::string out(cmd, static_cast<size_t>(n));
  redisFreeCommand(cmd);
  return out;
}

std::string Ours(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return FormatCommand(argv, lens);
}

TEST(RespFormatTest, WritesTheRespArrayOfBulkStrings) {
  EXPECT_EQ(Ours({"SET", "k", "value"}), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n");
}

TEST(RespFormatTest, MatchesHiredisByteForByte) {
  std::string binary("a\0b\r\nc", 6);
  std::vector<std::vector<std::string>> cases = {
      {"PING"},
      {"EVALSHA", "0123456789abcdef0123456789abcdef01234567", "0", "bench:", ""},
      {"HSET", "k", binary, std::string(1, '\0')},
      {"SET", "big", std::string(100'000, 'x')},
      std::vector<std::string>(40, "18446744073709551615"),  // a claim's fencing tokens
  };
  for (const auto& args : cases) {
    EXPECT_EQ(Ours(args), Hiredis(args)) << args.size() << " args, first " << args[0];
  }
}

}  // namespace
}  // namespace taskmill::broker
