// Artifacts end to end: a real worker keeps an exec task's files (inline and on its
// --artifacts-dir), the broker records the list, and the CLI and the C++ client write them
// out, checking names and sha256; a record naming "../" or a foreign file is refused.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/cli.h"
#include "support/cluster.h"
#include "taskmill/client/artifacts.h"
#include "taskmill/shared/sha256.h"

namespace taskmill::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

class ArtifactsFlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Cluster::Start({});
    ASSERT_TRUE(c) << c.error().message;
    cluster_ = std::move(*c);
    store_ = cluster_->dir() + "/artifacts";
    auto w = cluster_->StartWorker("w-art", 2, "default",
                                   {"--artifacts-dir", store_, "--artifacts-inline-bytes", "8"});
    ASSERT_TRUE(w) << w.error().message;
    client::ClientOptions options;
    options.endpoint = cluster_->frontend();
    auto cl = client::Client::Connect(options);
    ASSERT_TRUE(cl) << cl.error().message;
    client_ = std::move(*cl);
  }

  // Runs an exec task writing "hi" inline-sized and a 100-byte file; returns its record.
  protocol::TaskInfo RunTask() {
    auto id = client_->Submit(Spec(
        "exec", R"({"argv": ["sh", "-c", "cd \"$TASKMILL_ARTIFACTS_DIR\" && printf hi > small.txt && mkdir sub && head -c 100 /dev/urandom > sub/big.bin"]})"));
    EXPECT_TRUE(id) << id.error().message;
    auto done = client_->Wait({*id}, 30'000);
    EXPECT_TRUE(done && done->size() == 1) << cluster_->Logs();
    return done ? done->front() : protocol::TaskInfo{};
  }

  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<client::Client> client_;
  std::string store_;
};

TEST_F(ArtifactsFlowTest, ListedInTheRecordAndFetchedByTheCliAndTheClient) {
  protocol::TaskInfo t = RunTask();
  ASSERT_EQ(t.state, protocol::TaskState::kSucceeded) << cluster_->Logs();
  ASSERT_EQ(t.artifacts.size(), 2u);
  const auto& small = t.artifacts[0];
  const auto& big = t.artifacts[1];
  EXPECT_EQ(small.name, "small.txt");
  EXPECT_EQ(small.data, "hi");
  EXPECT_EQ(small.uri, "");
  EXPECT_EQ(big.name, "sub/big.bin");
  EXPECT_EQ(big.size, 100u);
  std::string kept = store_ + "/" + t.id + "/1/sub/big.bin";
  EXPECT_EQ(big.uri, "file://" + kept);
  std::string content = ReadFile(kept);
  EXPECT_EQ(big.sha256, Sha256::Hex(content));

  // The CLI: list, then write out.
  std::ostringstream out, err;
  auto no_env = [](const std::string&) { return std::string(); };
  ASSERT_EQ(client::cli::RunCli({"taskmill", "--broker", cluster_->frontend(), "artifacts", t.id},
                                out, err, false, no_env),
            0)
      << err.str();
  EXPECT_NE(out.str().find("small.txt  2  " + Sha256::Hex("hi") + "  (inline)"),
            std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("file://" + kept), std::string::npos) << out.str();
  std::string cli_out = cluster_->dir() + "/cli-out";
  std::ostringstream out2, err2;
  ASSERT_EQ(client::cli::RunCli({"taskmill", "--broker", cluster_->frontend(), "artifacts", t.id,
                                 "--out", cli_out},
                                out2, err2, false, no_env),
            0)
      << err2.str();
  EXPECT_EQ(ReadFile(cli_out + "/small.txt"), "hi");
  EXPECT_EQ(ReadFile(cli_out + "/sub/big.bin"), content);

  // The C++ client, with the volume "mounted" elsewhere.
  std::string moved = cluster_->dir() + "/mounted-elsewhere";
  std::filesystem::create_directories(moved);
  std::filesystem::copy(store_, moved, std::filesystem::copy_options::recursive);
  std::string lib_out = cluster_->dir() + "/lib-out";
  auto written = client::FetchArtifacts(*client_, t.id, lib_out, {.artifacts_root = moved});
  ASSERT_TRUE(written) << written.error().message;
  ASSERT_EQ(written->size(), 2u);
  EXPECT_EQ(ReadFile(lib_out + "/sub/big.bin"), content);

  // A kept file changed since: the sha256 check refuses it and leaves nothing half-written.
  std::ofstream(kept, std::ios::binary | std::ios::app) << "tampered";
  std::string bad_out = cluster_->dir() + "/bad-out";
  auto refused = client::FetchArtifacts(*client_, t.id, bad_out);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("sha256"), std::string::npos) << refused.error().message;
  EXPECT_FALSE(std::filesystem::exists(bad_out + "/sub/big.bin"));
}

// A record is not trusted: a name that leaves --out, or a uri that is not this task's
// artifact, is refused before anything is written.
TEST(ArtifactsWriteTest, EscapingNamesAndForeignUrisAreRefused) {
  auto dir = std::filesystem::temp_directory_path() /
             ("taskmill-art-write-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  protocol::TaskInfo t;
  t.id = "01JD0000000000000000000001";
  t.artifacts = {protocol::Artifact{"ok.txt", 2, Sha256::Hex("hi"), "", "hi"},
                 protocol::Artifact{"../escape.txt", 2, Sha256::Hex("hi"), "", "hi"}};
  auto r = client::WriteArtifacts(t, (dir / "out").string());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("'..' component"), std::string::npos) << r.error().message;
  EXPECT_FALSE(std::filesystem::exists(dir / "escape.txt"));
  EXPECT_FALSE(std::filesystem::exists(dir / "out" / "ok.txt")) << "nothing written";

  t.artifacts = {protocol::Artifact{"passwd", 10, std::string(64, '0'), "file:///etc/passwd", ""}};
  auto foreign = client::WriteArtifacts(t, (dir / "out").string());
  ASSERT_FALSE(foreign);
  EXPECT_NE(foreign.error().message.find("not under"), std::string::npos)
      << foreign.error().message;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace taskmill::testing
