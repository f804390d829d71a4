// The taskmill-worker executable: flag errors, and a run that ends with SIGTERM.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "test_support.h"

extern char** environ;

namespace taskmill::worker::testing {
namespace {

// The binary with `args`, stderr to a file; waits for it with a deadline.
class Process {
 public:
  // `env`: NAME=value entries added to this process's environment.
  explicit Process(std::vector<std::string> args, std::vector<std::string> env = {}) {
    stderr_path_ = "/tmp/taskmill-worker-test-" + std::to_string(getpid()) + "-" +
                   std::to_string(counter_++) + ".err";
    args.insert(args.begin(), TASKMILL_WORKER_BIN);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, stderr_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    std::vector<char*> envp;
    for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data()), 0);
    posix_spawn_file_actions_destroy(&actions);
    pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  }
  ~Process() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (pidfd_ >= 0) close(pidfd_);
    unlink(stderr_path_.c_str());
  }
  // The exit code, or nullopt if it is still running after `timeout`.
  std::optional<int> Wait(Ms timeout) {
    pollfd p{pidfd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  void Signal(int sig) { kill(pid_, sig); }
  std::string Stderr() const {
    std::ifstream in(stderr_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  static inline int counter_ = 0;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  std::string stderr_path_;
};

TEST(MainTest, BadFlagsExitWithCode2AndNameTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string named;
  };
  for (const Case& c : std::vector<Case>{{{"--no-such-flag"}, "--no-such-flag"},
                                         {{"--concurrency", "zero"}, "--concurrency"},
                                         {{"--concurrency", "0"}, "--concurrency"},
                                         {{"--queues", "bad queue!"}, "--queues"},
                                         {{"--heartbeat-ms"}, "--heartbeat-ms"},
                                         {{"--log-level", "loud"}, "--log-level"},
                                         {{"--broker", "nowhere"}, "--broker"}}) {
    Process p(c.args);
    auto code = p.Wait(10s);
    ASSERT_TRUE(code) << c.named;
    EXPECT_EQ(*code, 2) << c.named;
    std::string err = p.Stderr();
    EXPECT_NE(err.find(c.named), std::string::npos) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "one line: " << err;
  }
}

TEST(MainTest, VersionPrintsAndExits) {
  Process p({"--version"});
  EXPECT_EQ(p.Wait(10s), 0);
}

// TASKMILL_BROKER is the clients' endpoint: a worker reads TASKMILL_WORKER_BROKER only, and
// says so when it finds just the former.
TEST(MainTest, ReadsTaskmillWorkerBrokerAndWarnsAboutTaskmillBroker) {
  Process bad({}, {"TASKMILL_WORKER_BROKER=nowhere"});
  EXPECT_EQ(bad.Wait(10s), 2);
  EXPECT_NE(bad.Stderr().find("nowhere"), std::string::npos) << bad.Stderr();

  FakeBroker broker;
  Process p({"--log-level", "warn"},
            {"TASKMILL_WORKER_BROKER=" + broker.endpoint(), "TASKMILL_BROKER=tcp://127.0.0.1:1"});
  EXPECT_TRUE(broker.WaitFor<protocol::Ready>(10s)) << p.Stderr();
  Process warned({"--broker", broker.endpoint(), "--log-level", "warn"},
                 {"TASKMILL_BROKER=tcp://127.0.0.1:1"});
  EXPECT_TRUE(WaitUntil(
      [&] { return warned.Stderr().find("TASKMILL_WORKER_BROKER") != std::string::npos; }, 10s))
      << warned.Stderr();
}

// What a broker's client port answers a READY with: the worker says where it should be.
TEST(MainTest, AWorkerOnTheClientPortSaysSo) {
  FakeBroker broker;
  Process p({"--broker", broker.endpoint(), "--log-level", "warn"});
  ASSERT_TRUE(broker.WaitFor<protocol::Ready>(10s));
  protocol::Reply reply;
  reply.error = protocol::WireError{"unknown_command", "READY is not a client command"};
  broker.Send(reply);
  EXPECT_TRUE(WaitUntil(
      [&] {
        std::string err = p.Stderr();
        return err.find("client port") != std::string::npos &&
               err.find("READY is not a client command") != std::string::npos;
      },
      10s))
      << p.Stderr();
}

TEST(MainTest, ServesTasksAndDrainsOnSigterm) {
  FakeBroker broker;
  Process p({"--broker", broker.endpoint(), "--id", "bin-worker", "--concurrency", "2",
             "--heartbeat-ms", "100", "--liveness", "50", "--queues", "default,extra",
             "--log-level", "warn"});
  auto ready = broker.WaitFor<protocol::Ready>(10s);
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->worker_id, "bin-worker");
  EXPECT_EQ(ready->types, (std::vector<std::string>{"echo", "exec", "fail", "sleep"}));
  EXPECT_EQ(ready->queues, (std::vector<std::string>{"default", "extra"}));
  EXPECT_EQ(ready->concurrency, 2u);

  broker.Send(MakeTask("t1", "echo", "hello"));
  auto echoed = broker.WaitFor<protocol::Done>(10s);
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->output, "hello");

  // A running sleep is allowed to finish: SIGTERM drains within the (default 30 s) grace.
  broker.Send(MakeTask("t2", "sleep", PackMap({{"ms", uint64_t{300}}})));
  ASSERT_TRUE(broker.WaitFor<protocol::Heartbeat>(5s, [](auto& h) { return h.free == 1; }));
  p.Signal(SIGTERM);
  auto slept = broker.WaitFor<protocol::Done>(10s);
  ASSERT_TRUE(slept) << p.Stderr();
  EXPECT_EQ(slept->task_id, "t2");
  EXPECT_TRUE(slept->ok);
  EXPECT_TRUE(broker.WaitFor<protocol::Bye>(10s));
  EXPECT_EQ(p.Wait(10s), 0);
}

}  // namespace
}  // namespace taskmill::worker::testing
