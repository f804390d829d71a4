#include "taskmill/shared/flags.h"

#include <gtest/gtest.h>

#include <map>

namespace taskmill {
namespace {

struct Config {
  std::string frontend = "tcp://127.0.0.1:5555";
  uint32_t liveness = 3;
  bool verbose = false;
  std::vector<std::string> queues = {"default"};
  std::string level = "info";
  double ratio = 0.5;
};

class FlagsTest : public ::testing::Test {
 protected:
  FlagsTest() : flags_("taskmill-test", "a test") {
    flags_.String("frontend", &cfg_.frontend, "client endpoint");
    flags_.Uint32("liveness", &cfg_.liveness, 1, 100, "missed heartbeats");
    flags_.Bool("verbose", &cfg_.verbose, "more output");
    flags_.List("queues", &cfg_.queues, "queues");
    flags_.Choice("log-level", &cfg_.level, {"debug", "info"}, "level");
    flags_.Double("ratio", &cfg_.ratio, 0, 1, "a ratio");
  }
  Result<FlagSet::Parsed> Parse(std::vector<const char*> args,
                                std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), "prog");
    return flags_.Parse(static_cast<int>(args.size()), args.data(),
                        [&](const std::string& k) { return env.count(k) ? env[k] : ""; });
  }
  Config cfg_;
  FlagSet flags_;
};

TEST_F(FlagsTest, DefaultsStandWithoutInput) {
  ASSERT_TRUE(Parse({}));
  EXPECT_EQ(cfg_.liveness, 3u);
  EXPECT_EQ(cfg_.queues, std::vector<std::string>{"default"});
}

TEST_F(FlagsTest, FlagsOverrideEnvironmentWhichOverridesDefaults) {
  ASSERT_TRUE(
      Parse({"--liveness", "7"}, {{"TASKMILL_LIVENESS", "5"}, {"TASKMILL_LOG_LEVEL", "debug"}}));
  EXPECT_EQ(cfg_.liveness, 7u);
  EXPECT_EQ(cfg_.level, "debug");
}

TEST_F(FlagsTest, FormsOfValues) {
  auto r = Parse({"--frontend=tcp://*:1", "--verbose", "--queues", "a,b", "--queues=c", "pos",
                  "--ratio", "0.25"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(cfg_.frontend, "tcp://*:1");
  EXPECT_TRUE(cfg_.verbose);
  EXPECT_EQ(cfg_.queues, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(r->positional, std::vector<std::string>{"pos"});
  EXPECT_EQ(cfg_.ratio, 0.25);
  ASSERT_TRUE(Parse({"--no-verbose"}));
  EXPECT_FALSE(cfg_.verbose);
}

TEST_F(FlagsTest, ErrorsSayWhatAndWhatIsAllowed) {
  auto r = Parse({"--liveness", "0"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "--liveness: 0 is out of range (allowed: 1..100)");
  r = Parse({"--liveness", "x"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "--liveness: 'x' is not a whole number (allowed: 1..100)");
  r = Parse({"--log-level", "loud"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "--log-level: 'loud' is not one of: debug, info");
  r = Parse({"--bogus"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "unknown flag '--bogus' (see taskmill-test --help)");
  r = Parse({"--frontend"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "--frontend needs a value");
  r = Parse({}, {{"TASKMILL_LIVENESS", "-3"}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("TASKMILL_LIVENESS"), std::string::npos);
  r = Parse({"--ratio", "2"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("0..1"), std::string::npos);
}

TEST_F(FlagsTest, HelpAndUsage) {
  auto r = Parse({"--help"});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->help);
  std::string usage = flags_.Usage();
  EXPECT_NE(usage.find("--liveness VALUE"), std::string::npos);
  EXPECT_NE(usage.find("[env TASKMILL_LOG_LEVEL]"), std::string::npos);
}

// Usage names the variable of every flag read from the environment, and only those:
// a renamed one, none for a flag taken off the environment, none at all for a subcommand.
TEST_F(FlagsTest, EnvironmentNamesCanBeChangedOrDroppedAndUsageSaysSo) {
  flags_.SetEnvName("frontend", "TASKMILL_CLIENT_FRONTEND");
  flags_.SetEnvName("ratio", "");
  bool version = false;
  flags_.Bool("version", &version, "print the version");
  ASSERT_TRUE(Parse({}, {{"TASKMILL_FRONTEND", "ignored"}, {"TASKMILL_RATIO", "0.9"},
                         {"TASKMILL_CLIENT_FRONTEND", "tcp://a:1"}, {"TASKMILL_VERSION", "1"}}));
  EXPECT_EQ(cfg_.frontend, "tcp://a:1");
  EXPECT_DOUBLE_EQ(cfg_.ratio, 0.5);
  EXPECT_FALSE(version);
  std::string usage = flags_.Usage();
  EXPECT_NE(usage.find("[env TASKMILL_CLIENT_FRONTEND]"), std::string::npos) << usage;
  EXPECT_EQ(usage.find("TASKMILL_RATIO"), std::string::npos) << usage;
  EXPECT_EQ(usage.find("TASKMILL_VERSION"), std::string::npos) << usage;
  EXPECT_NE(usage.find("[env TASKMILL_LIVENESS]"), std::string::npos) << usage;

  flags_.ReadEnvironment(false);
  ASSERT_TRUE(Parse({}, {{"TASKMILL_LIVENESS", "9"}}));
  EXPECT_EQ(cfg_.liveness, 3u);
  EXPECT_EQ(flags_.Usage().find("[env"), std::string::npos) << flags_.Usage();
}

}  // namespace
}  // namespace taskmill
