// `taskmill keygen` in-process: the two files and their modes, refusal to overwrite,
// --force, and usage errors. The real binary's files are used by the CURVE integration test.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli.h"
#include "cli_runner.h"
#include "taskmill/shared/curve_keys.h"

namespace taskmill::client::cli {
namespace {

namespace fs = std::filesystem;

using Run = client::testing::CliRun;

Run Cli(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) {
  return client::testing::RunCliInProcess(std::move(args), env);
}

unsigned Mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

class KeygenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "taskmill-keygen-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string dir_;
};

TEST_F(KeygenTest, WritesTheKeyPairWithModesAndPrintsThePublicKey) {
  auto r = Cli({"keygen", "worker-1", "--dir", dir_});
  ASSERT_EQ(r.code, 0) << r.err;
  std::string key = dir_ + "/worker-1.key", pub = dir_ + "/worker-1.pub";
  EXPECT_EQ(Mode(key), 0600u);
  EXPECT_EQ(Mode(pub), 0644u);
  auto keys = LoadCurveKeyFile(key);
  ASSERT_TRUE(keys.has_value()) << keys.error().message;
  EXPECT_EQ(LoadCurvePublicKey(pub).value_or(""), keys->public_key);
  EXPECT_NE(r.out.find("public key: " + keys->public_key), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(keys->secret_key), std::string::npos) << "secret key printed";

  auto j = Cli({"keygen", "w2", "--dir", dir_, "--json"});
  ASSERT_EQ(j.code, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["key_file"], dir_ + "/w2.key");
  EXPECT_EQ(doc["pub_file"], dir_ + "/w2.pub");
  EXPECT_EQ(doc["public_key"], LoadCurvePublicKey(dir_ + "/w2.pub").value_or("?"));
}

TEST_F(KeygenTest, RefusesToOverwriteWithoutForce) {
  ASSERT_EQ(Cli({"keygen", "broker", "--dir", dir_}).code, 0);
  auto before = LoadCurveKeyFile(dir_ + "/broker.key");
  ASSERT_TRUE(before.has_value());
  auto again = Cli({"keygen", "broker", "--dir", dir_});
  EXPECT_EQ(again.code, 2);
  EXPECT_NE(again.err.find(dir_ + "/broker.key already exists (use --force"), std::string::npos)
      << again.err;
  EXPECT_EQ(LoadCurveKeyFile(dir_ + "/broker.key")->secret_key, before->secret_key);

  auto forced = Cli({"keygen", "broker", "--dir", dir_, "--force"});
  ASSERT_EQ(forced.code, 0) << forced.err;
  auto after = LoadCurveKeyFile(dir_ + "/broker.key");
  ASSERT_TRUE(after.has_value());
  EXPECT_NE(after->secret_key, before->secret_key);
  EXPECT_EQ(Mode(dir_ + "/broker.key"), 0600u);
}

TEST_F(KeygenTest, UsageErrors) {
  auto none = Cli({"keygen", "--dir", dir_});
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.err.find("give exactly one NAME"), std::string::npos) << none.err;
  auto bad = Cli({"keygen", "../escape", "--dir", dir_});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("key name '../escape' is not allowed"), std::string::npos) << bad.err;
  auto missing = Cli({"keygen", "x", "--dir", dir_ + "/missing"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("--dir: directory"), std::string::npos) << missing.err;
  EXPECT_EQ(Cli({"keygen", "--help"}).code, 0);
}

TEST_F(KeygenTest, ClientCurveOptionsAreCheckedBeforeConnecting) {
  ASSERT_EQ(Cli({"keygen", "c", "--dir", dir_}).code, 0);
  auto half = Cli({"stats"}, {{"TASKMILL_CURVE_KEY_FILE", dir_ + "/c.key"}});
  EXPECT_EQ(half.code, 2);
  EXPECT_NE(half.err.find("--curve-key-file: given without curve-server-key"), std::string::npos)
      << half.err;
  auto pub_as_key =
      Cli({"--curve-server-key", dir_ + "/c.pub", "--curve-key-file", dir_ + "/c.pub", "stats"});
  EXPECT_EQ(pub_as_key.code, 2);
  EXPECT_NE(pub_as_key.err.find("--curve-key-file: " + dir_ + "/c.pub: no secret-key"),
            std::string::npos)
      << pub_as_key.err;
  auto bad_server =
      Cli({"--curve-server-key", "not-a-key", "--curve-key-file", dir_ + "/c.key", "stats"});
  EXPECT_EQ(bad_server.code, 2);
  EXPECT_NE(bad_server.err.find("--curve-server-key: 'not-a-key' is neither"), std::string::npos)
      << bad_server.err;
}

}  // namespace
}  // namespace taskmill::client::cli
