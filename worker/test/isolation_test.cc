// exec's isolation levels and limits, with real processes, namespaces and a local git repo.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "handlers/isolation.h"
#include "taskmill/worker/builtins.h"
#include "test_support.h"

namespace taskmill::worker::testing {
namespace {

using J = nlohmann::json;

// exec of a JSON payload, run on this thread (DirectExec).
struct ExecRun : DirectExec {
  explicit ExecRun(const nlohmann::json& payload, ExecOptions options = {})
      : DirectExec(payload.dump(), std::move(options), "iso") {}
};

// Skips a test that needs `full` on a host that cannot make the namespaces at all (asked
// of unshare directly); where it can, the worker must be able to as well.
bool HostMakesNamespaces() {
  auto r = RunTool({"unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount",
                    "--mount-proc", "--net", "true"},
                   "/", 0);
  return r.status == 0;
}
#define REQUIRE_FULL()                                                                   \
  do {                                                                                   \
    if (!HostMakesNamespaces()) GTEST_SKIP() << "this host cannot make the namespaces"; \
    auto ok = CheckIsolationAvailable(IsolationLevel::kFull);                            \
    ASSERT_TRUE(ok) << ok.error().message;                                               \
  } while (0)

// A listening TCP socket on 127.0.0.1, port chosen by the kernel.
class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(fd_, 8), 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Listener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

std::string ConnectScript(int port) {
  return "import socket; socket.create_connection(('127.0.0.1', " + std::to_string(port) +
         "), 3); print('connected')";
}

// Counts the numeric entries of /proc: the processes this process can see.
constexpr const char* kCountProcesses = "echo $$; ls /proc | grep -c '^[0-9][0-9]*$'";

TEST(IsolationTest, FullSeesOnlyItsOwnProcessesAndNoNetwork) {
  REQUIRE_FULL();
  Listener listener;
  // The same commands at level directory: the host's processes and loopback are there.
  ExecRun host_ps({{"argv", {"sh", "-c", kCountProcesses}}, {"isolation", "directory"}});
  ASSERT_TRUE(host_ps.outcome.ok) << host_ps.Why();
  ExecRun host_net({{"argv", {"python3", "-c", ConnectScript(listener.port())}},
                {"isolation", "directory"}});
  ASSERT_TRUE(host_net.outcome.ok) << host_net.Why();
  EXPECT_EQ(host_net.outcome.stdout_data, "connected\n");

  ExecRun ps({{"argv", {"sh", "-c", kCountProcesses}}, {"isolation", "full"}});
  ASSERT_TRUE(ps.outcome.ok) << ps.Why();
  // PID 1 of its own namespace; /proc shows sh and ls (and grep) at most.
  EXPECT_TRUE(ps.outcome.stdout_data.starts_with("1\n")) << ps.outcome.stdout_data;
  int seen = std::stoi(ps.outcome.stdout_data.substr(2));
  EXPECT_LE(seen, 3) << ps.outcome.stdout_data;
  EXPECT_GT(std::stoi(host_ps.outcome.stdout_data.substr(host_ps.outcome.stdout_data.find('\n'))),
            seen);

  ExecRun net({{"argv", {"python3", "-c", ConnectScript(listener.port())}}, {"isolation", "full"}});
  ASSERT_FALSE(net.outcome.ok) << "a full process reached the host's loopback";
  EXPECT_EQ(net.outcome.error->code, "exit_status") << net.Why();
  EXPECT_EQ(net.outcome.stdout_data, "");
  // Its only interface is its own loopback.
  ExecRun ifaces({{"argv", {"sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"}},
              {"isolation", "full"}});
  ASSERT_TRUE(ifaces.outcome.ok) << ifaces.Why();
  EXPECT_EQ(ifaces.outcome.stdout_data, "lo\n");
}

TEST(IsolationTest, FullRunsAsAnUnprivilegedUserOutside) {
  REQUIRE_FULL();
  // uid_map: inside 0 maps to nobody when the worker is root, else to the worker's own uid.
  ExecRun r({{"argv", {"sh", "-c", "touch mine && cat /proc/self/uid_map"}}, {"isolation", "full"}});
  ASSERT_TRUE(r.outcome.ok) << r.Why();
  std::istringstream in(r.outcome.stdout_data);
  long inside = -1, outside = -1, count = -1;
  in >> inside >> outside >> count;
  EXPECT_EQ(inside, 0);
  EXPECT_EQ(outside, geteuid() == 0 ? 65534 : static_cast<long>(geteuid()));
  EXPECT_EQ(count, 1);
}

TEST(IsolationTest, CpuLimitIsRecordedAsSuch) {
  ExecRun r({{"argv", {"sh", "-c", "while :; do :; done"}},
         {"timeout_ms", 20'000},
         {"limits", {{"cpu_seconds", 1}}}});
  ASSERT_FALSE(r.outcome.ok);
  EXPECT_EQ(r.outcome.error->code, "cpu_limit") << r.Why();
  EXPECT_NE(r.outcome.error->message.find("CPU limit of 1 s"), std::string::npos) << r.Why();
  EXPECT_FALSE(r.outcome.error->retryable);
}

TEST(IsolationTest, MemoryLimitFailureNamesTheLimit) {
  // The worker's default applies when the payload sets none.
  ExecOptions options;
  options.limits.memory_mb = 64;
  ExecRun r({{"argv", {"python3", "-c", "x = bytearray(512 << 20)"}}}, options);
  ASSERT_FALSE(r.outcome.ok);
  EXPECT_EQ(r.outcome.error->code, "exit_status") << r.Why();
  EXPECT_NE(r.outcome.stderr_data.find("MemoryError"), std::string::npos) << r.Why();
  EXPECT_NE(r.outcome.error->message.find("under limits: memory 64 MiB"), std::string::npos)
      << r.Why();
  // Under a bigger payload limit the same allocation succeeds.
  ExecRun ok({{"argv", {"python3", "-c", "x = bytearray(16 << 20)"}}, {"limits", {{"memory_mb", 512}}}},
         options);
  EXPECT_TRUE(ok.outcome.ok) << ok.Why();
}

TEST(IsolationTest, FullAppliesLimitsInsideTheNamespaces) {
  REQUIRE_FULL();
  ExecRun r({{"argv", {"sh", "-c", "ulimit -n; ulimit -v"}},
         {"isolation", "full"},
         {"limits", {{"open_files", 32}, {"memory_mb", 256}}}});
  ASSERT_TRUE(r.outcome.ok) << r.Why();
  EXPECT_EQ(r.outcome.stdout_data, "32\n" + std::to_string(256 * 1024) + "\n");
}

TEST(IsolationTest, NoneRunsInTheWorkersDirectory) {
  ExecRun r({{"argv", J::array({"pwd"})}, {"isolation", "none"}});
  ASSERT_TRUE(r.outcome.ok) << r.Why();
  EXPECT_EQ(r.outcome.stdout_data, std::filesystem::current_path().string() + "\n");
  ExecRun d(J{{"argv", J::array({"pwd"})}});  // the default: a fresh directory
  ASSERT_TRUE(d.outcome.ok) << d.Why();
  EXPECT_NE(d.outcome.stdout_data.find("taskmill-exec-"), std::string::npos);
}

TEST(IsolationTest, BadLevelsAndGitSpecsAreBadPayloads) {
  for (const auto& payload : {
           nlohmann::json{{"argv", J::array({"true"})}, {"isolation", "chroot"}},
           nlohmann::json{{"argv", J::array({"true"})}, {"isolation", "branch"}},
           nlohmann::json{{"argv", J::array({"true"})}, {"git", {{"repo", "/tmp"}, {"ref", "main"}}}},
           nlohmann::json{{"argv", J::array({"true"})},
                          {"isolation", "branch"},
                          {"git", {{"repo", "relative/path"}, {"ref", "main"}}}},
           nlohmann::json{{"argv", J::array({"true"})},
                          {"isolation", "branch"},
                          {"git", {{"repo", "/tmp"}, {"ref", "--upload-pack=evil"}}}},
           nlohmann::json{{"argv", J::array({"true"})},
                          {"isolation", "branch"},
                          {"git", {{"repo", "ext::sh -c evil"}, {"ref", "main"}}}},
           nlohmann::json{{"argv", J::array({"true"})}, {"limits", {{"cpu", 1}}}},
           nlohmann::json{{"argv", J::array({"true"})}, {"limits", {{"memory_mb", -1}}}},
       }) {
    ExecRun r(payload);
    ASSERT_FALSE(r.outcome.ok) << payload.dump();
    EXPECT_EQ(r.outcome.error->code, "bad_payload") << payload.dump() << " " << r.Why();
    EXPECT_FALSE(r.outcome.error->retryable);
  }
}

// A local repository with two commits: tag v1 holds "one", main holds "two".
class GitRepo {
 public:
  GitRepo() : dir_(std::move(TempDir::Create("taskmill-git-test-").value())) {
    Git({"init", "--quiet", "--initial-branch=main"});
    Write("one");
    Git({"add", "file"});
    Git({"-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "one"});
    Git({"tag", "v1"});
    Write("two");
    Git({"-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-am", "two"});
  }
  const std::string& path() const { return dir_.path(); }
  ToolResult Git(std::vector<std::string> args) {
    args.insert(args.begin(), {"git", "-C", dir_.path()});
    auto r = RunTool(args, "/", 0);
    EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.err;
    return r;
  }

 private:
  void Write(const std::string& text) { std::ofstream(dir_.path() + "/file") << text; }
  TempDir dir_;
};

TEST(IsolationTest, BranchRunsInAWorktreeAtTheRefRemovedAfter) {
  GitRepo repo;
  ExecRun r({{"argv", {"sh", "-c", "cat file; echo; pwd; git rev-parse --abbrev-ref HEAD"}},
         {"isolation", "branch"},
         {"git", {{"repo", repo.path()}, {"ref", "v1"}}}});
  ASSERT_TRUE(r.outcome.ok) << r.Why();
  std::istringstream out(r.outcome.stdout_data);
  std::string content, dir, head;
  std::getline(out, content);
  std::getline(out, dir);
  std::getline(out, head);
  EXPECT_EQ(content, "one");
  EXPECT_EQ(head, "HEAD") << "a detached worktree";
  EXPECT_NE(dir, repo.path());
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir << " is left behind";
  // The repository no longer lists it, and its own checkout is untouched.
  auto list = repo.Git({"worktree", "list", "--porcelain"});
  EXPECT_EQ(list.out.find(dir), std::string::npos) << list.out;
  std::ifstream f(repo.path() + "/file");
  std::string main_content((std::istreambuf_iterator<char>(f)), {});
  EXPECT_EQ(main_content, "two");

  // The same repository as a file:// URL: a private clone at the branch.
  ExecRun url({{"argv", J::array({"cat", "file"})},
           {"isolation", "branch"},
           {"git", {{"repo", "file://" + repo.path()}, {"ref", "main"}}}});
  ASSERT_TRUE(url.outcome.ok) << url.Why();
  EXPECT_EQ(url.outcome.stdout_data, "two");
}

TEST(IsolationTest, BranchWithAnUnknownRefFailsNotRetryable) {
  GitRepo repo;
  ExecRun r({{"argv", J::array({"true"})},
         {"isolation", "branch"},
         {"git", {{"repo", repo.path()}, {"ref", "no-such-branch"}}}});
  ASSERT_FALSE(r.outcome.ok);
  EXPECT_EQ(r.outcome.error->code, "git_failed") << r.Why();
  EXPECT_FALSE(r.outcome.error->retryable);
  EXPECT_NE(r.outcome.error->message.find("no-such-branch"), std::string::npos) << r.Why();
}

// A host without the tools `full` needs: the worker refuses to start with it as its default
// (never running tasks at a lower level instead).
TEST(IsolationTest, WorkerRefusesAFullDefaultItCannotGive) {
  auto dir = TempDir::Create("taskmill-empty-path-");
  ASSERT_TRUE(dir);
  auto r = RunTool({"env", "PATH=" + dir->path(), TASKMILL_WORKER_BIN, "--isolation", "full",
                    "--broker", "tcp://127.0.0.1:1"},
                   "/", 0);
  ASSERT_TRUE(WIFEXITED(r.status)) << r.err;
  EXPECT_EQ(WEXITSTATUS(r.status), 2) << r.err;
  EXPECT_NE(r.err.find("isolation full needs util-linux's unshare"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace taskmill::worker::testing
