// The process pool (--processes): handlers run in supervised child processes. A child that
// dies fails its attempt as retryable and is replaced; one that ignores its timeout or
// cancel is killed (the hard stop); children are recycled after N tasks or past an RSS
// cap; and the worker itself carries on through all of it.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "test_support.h"

namespace taskmill::worker::testing {
namespace {

using protocol::Done;
using protocol::Ready;

// Writes this process's PID to the file named by the payload.
void WritePid(TaskContext& ctx) {
  std::ofstream(std::string(ctx.payload())) << getpid() << std::endl;
}

// The pool process's end of its channel: the Unix socket whose peer (the process that
// made the socketpair) is the fork server, this process's parent. -1 if none.
int ChannelFd() {
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = std::atoi(entry.path().filename().c_str());
    int domain = 0;
    socklen_t len = sizeof domain;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_UNIX) continue;
    ucred cred{};
    len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid == getppid()) {
      return fd;
    }
  }
  return -1;
}

void RegisterPoolHandlers(Worker& wk) {
  wk.Handle("pid", [](TaskContext&) { return Outcome::Ok(std::to_string(getpid())); });
  // Announces its PID, then waits for its stop and honours it.
  wk.Handle("polite", [](TaskContext& ctx) {
    WritePid(ctx);
    ctx.WaitCancelled(30s);
    return Outcome::Fail("stopped", "stopped as asked", false);
  });
  // Announces its PID, then ignores every stop.
  wk.Handle("deaf", [](TaskContext& ctx) {
    WritePid(ctx);
    std::this_thread::sleep_for(30s);
    return Outcome::Ok("too late");
  });
  // Keeps 96 MiB of touched memory for the rest of its process's life.
  wk.Handle("grow", [](TaskContext&) {
    static std::vector<char> hoard;
    hoard.assign(96u << 20, 'x');
    return Outcome::Ok(std::to_string(getpid()));
  });
  wk.Handle("abort", [](TaskContext&) -> Outcome { std::abort(); });
  // Starts a `sleep` of its own (left running if its process dies), announces its PID in
  // <payload>.kid, then its own PID, and waits for its stop.
  wk.Handle("leave", [](TaskContext& ctx) {
    pid_t kid = fork();
    if (kid == 0) {
      execlp("sleep", "sleep", "30", static_cast<char*>(nullptr));
      _exit(127);
    }
    std::ofstream(std::string(ctx.payload()) + ".kid") << kid << std::endl;
    WritePid(ctx);
    ctx.WaitCancelled(30s);
    return Outcome::Ok();
  });
  // Writes a frame header claiming 4 GiB to the worker, then waits: a hostile child.
  wk.Handle("garble", [](TaskContext& ctx) {
    int fd = ChannelFd();
    if (fd < 0) return Outcome::Fail("no_channel", "the channel fd was not found", false);
    [[maybe_unused]] ssize_t n = write(fd, "\xff\xff\xff\xff" "D", 5);
    ctx.WaitCancelled(30s);
    return Outcome::Ok();
  });
}

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("taskmill-pool-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  WorkerOptions PoolOptions(uint32_t processes) {
    WorkerOptions o = TestOptions(broker_, 1);
    o.processes = processes;
    o.cancel_grace_ms = 200;
    return o;
  }
  // Sends a task and returns its DONE (nullopt after `timeout`).
  std::optional<Done> RunTask(protocol::TaskMsg task, Ms timeout = 10s) {
    std::string id = task.task_id;
    broker_.Send(task);
    return broker_.WaitFor<Done>(timeout, [&](const Done& d) { return d.task_id == id; });
  }
  std::string PidFile(const std::string& name) { return (dir_ / name).string(); }
  // The PID a handler wrote to `path`, once it did; 0 after `timeout`.
  int WaitPid(const std::string& path, Ms timeout = 10s) {
    int pid = 0;
    WaitUntil(
        [&] {
          std::ifstream in(path);
          std::string line;
          if (!std::getline(in, line) || line.empty()) return false;
          pid = std::atoi(line.c_str());
          return pid > 0;
        },
        timeout);
    return pid;
  }
  // Sends `task` (of a handler that writes its PID to the file its payload names) and
  // returns that PID once written; 0 after 10 s.
  int Started(protocol::TaskMsg task) {
    std::string path = task.payload;
    broker_.Send(task);
    return WaitPid(path);
  }
  std::string PidTask(const std::string& id) {
    auto done = RunTask(MakeTask(id, "pid"));
    if (!done || !done->ok) return "";
    return done->output;
  }

  FakeBroker broker_;
  std::filesystem::path dir_;
};

TEST_F(PoolTest, HandlersRunInAChildProcessNotInTheWorker) {
  RunningWorker w(PoolOptions(2), RegisterPoolHandlers);
  ASSERT_TRUE(broker_.WaitFor<Ready>(5s));
  std::string pid = PidTask("t1");
  ASSERT_FALSE(pid.empty());
  EXPECT_NE(std::atoi(pid.c_str()), getpid());
}

TEST_F(PoolTest, AChildKilledMidTaskFailsTheAttemptRetryableAndIsReplaced) {
  RunningWorker w(PoolOptions(1), RegisterPoolHandlers);
  ASSERT_TRUE(broker_.WaitFor<Ready>(5s));
  int child = Started(MakeTask("t1", "polite", PidFile("t1")));
  ASSERT_GT(child, 0);
  ASSERT_NE(child, getpid());
  ASSERT_EQ(kill(child, SIGKILL), 0);
  auto done = broker_.WaitFor<Done>(10s);
  ASSERT_TRUE(done);
  EXPECT_FALSE(done->ok);
  ASSERT_TRUE(done->error);
  EXPECT_EQ(done->error->code, "handler_crashed");
  EXPECT_TRUE(done->error->retryable);
  EXPECT_NE(done->error->message.find("signal 9"), std::string::npos) << done->error->message;
  // The replacement runs the next task.
  std::string next = PidTask("t2");
  ASSERT_FALSE(next.empty());
  EXPECT_NE(std::atoi(next.c_str()), child);
}

TEST_F(PoolTest, WhatADeadChildLeftRunningIsKilledWithIt) {
  RunningWorker w(PoolOptions(1), RegisterPoolHandlers);
  ASSERT_TRUE(broker_.WaitFor<Ready>(5s));
  int child = Started(MakeTask("t1", "leave", PidFile("t1")));
  ASSERT_GT(child, 0);
  int kid = WaitPid(PidFile("t1") + ".kid");
  ASSERT_GT(kid, 0);
  ASSERT_FALSE(ProcessGone(kid));
  ASSERT_EQ(kill(child, SIGKILL), 0);
  auto done = broker_.WaitFor<Done>(10s);
  ASSERT_TRUE(done);
  ASSERT_TRUE(done->error);
  EXPECT_EQ(done->error->code, "handler_crashed");
  // Reparented to the fork server (a subreaper), then killed and reaped by it.
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(kid); }, 5s)) << "the orphan lives on";
}

TEST_F(PoolTest, AHandlerThatCrashesItsProcessFailsRetryable) {
  RunningWorker w(PoolOptions(1), RegisterPoolHandlers);
  ASSERT_TRUE(broker_.WaitFor<Ready>(5s));
  auto done = RunTask(MakeTask("t1", "abort"));
  ASSERT_TRUE(done);
  EXPECT_FALSE(done->ok);
  ASSERT_TRUE(done->error);
  EXPECT_EQ(done->error->code, "handler_crashed");
  EXPECT_TRUE(done->error->retryable);
  EXPECT_FALSE(PidTask("t2").empty()) << "no process ran the next task";
}

TEST_F(PoolTest, AChildSendingABadFrameIsKilledNotTheWorker) {
  RunningWorker w(PoolOptions(1), RegisterPoolHandlers);
  ASSERT_TRUE(broker_.WaitFor<Ready>(5s));
  std::string before = PidTask("t0");
  ASSERT_FALSE(before.empty());
  auto done = RunTask(MakeTask("t1", "garble"));
  ASSERT_TRUE(done);
  EXPECT_FALSE(done->ok);
  ASSERT_TRUE(done->error);
  EXPECT_EQ(done->error->code, "handler_crashed") << done->error->message;
  EXPECT_TRUE(done->error->retryable);
  EXPECT_NE(done->error->message.find("bad frame"), std::string::npos) << done->error->message;
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(std::atoi(before.c_str())); }, 5s));
  std::string after = PidTask("t2");
  ASSERT_FALSE(after.empty()) << "the worker no longer runs tasks";
  EXPECT_NE(after, before);
}

TEST_F(PoolTest, AHandlerIgnoringItsTimeoutIsKilledWithItsProcessAndRecordedTimeout) {
  RunningWorker w(PoolOptions(1), RegisterPoolHandlers);
  ASSERT_TRUE(broker_.WaitFor<Ready>(5s));
  auto task = MakeTask("t1", "deaf", PidFile("t1"));
  task.timeout_ms = 200;
  int child = Started(task);
  ASSERT_GT(child, 0);
  auto done = broker_.WaitFor<Done>(10s);
  ASSERT_TRUE(done);
  EXPECT_FALSE(done->ok);
  ASSERT_TRUE(done->error);
  EXPECT_EQ(done->error->code, "timeout");
  EXPECT_TRUE(done->error->retryable);
  EXPECT_NE(done->error->message.find("was killed"), std::string::npos) << done->error->message;
  EXPECT_TRUE(done->output.empty());
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(child); }, 5s)) << "the deaf process lives on";
  // The slot is not lost: the next task runs at once, in a new process.
  std::string next = PidTask("t2");
  ASSERT_FALSE(next.empty());
  EXPECT_NE(std::atoi(next.c_str()), child);
}

TEST_F(PoolTest, AHandlerIgnoringACancelIsKilledWithItsProcessAndRecordedCancelled) {
  RunningWorker w(PoolOptions(1), RegisterPoolHandlers);
  ASSERT_TRUE(broker_.WaitFor<Ready>(5s));
  int child = Started(MakeTask("t1", "deaf", PidFile("t1"), 4));
  ASSERT_GT(child, 0);
  broker_.Send(protocol::CancelTask{"t1", 4, "user"});
  auto done = broker_.WaitFor<Done>(10s);
  ASSERT_TRUE(done);
  EXPECT_FALSE(done->ok);
  ASSERT_TRUE(done->error);
  EXPECT_EQ(done->error->code, "cancelled");
  EXPECT_FALSE(done->error->retryable);
  EXPECT_NE(done->error->message.find("was killed"), std::string::npos) << done->error->message;
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(child); }, 5s)) << "the deaf process lives on";
}

TEST_F(PoolTest, AHandlerHonouringACancelKeepsItsProcess) {
  RunningWorker w(PoolOptions(1), RegisterPoolHandlers);
  ASSERT_TRUE(broker_.WaitFor<Ready>(5s));
  int child = Started(MakeTask("t1", "polite", PidFile("t1"), 4));
  ASSERT_GT(child, 0);
  broker_.Send(protocol::CancelTask{"t1", 4, "user"});
  auto done = broker_.WaitFor<Done>(10s);
  ASSERT_TRUE(done);
  ASSERT_TRUE(done->error);
  EXPECT_EQ(done->error->code, "cancelled");
  EXPECT_EQ(done->error->message.find("was killed"), std::string::npos) << done->error->message;
  EXPECT_EQ(PidTask("t2"), std::to_string(child));
}

TEST_F(PoolTest, AChildIsRecycledAfterMaxTasks) {
  WorkerOptions o = PoolOptions(1);
  o.max_tasks_per_process = 3;
  RunningWorker w(o, RegisterPoolHandlers);
  ASSERT_TRUE(broker_.WaitFor<Ready>(5s));
  std::vector<std::string> pids;
  for (int i = 0; i < 7; ++i) pids.push_back(PidTask("t" + std::to_string(i)));
  for (const auto& p : pids) ASSERT_FALSE(p.empty());
  EXPECT_EQ(pids[0], pids[1]);
  EXPECT_EQ(pids[0], pids[2]);
  EXPECT_NE(pids[2], pids[3]) << "not recycled after 3 tasks";
  EXPECT_EQ(pids[3], pids[5]);
  EXPECT_NE(pids[5], pids[6]);
  EXPECT_NE(pids[0], pids[6]);
}

TEST_F(PoolTest, AChildIsRecycledPastTheMemoryCap) {
  WorkerOptions o = PoolOptions(1);
  o.max_memory_per_process_mb = 64;
  RunningWorker w(o, RegisterPoolHandlers);
  ASSERT_TRUE(broker_.WaitFor<Ready>(5s));
  // Under the cap: the same process runs both.
  std::string a = PidTask("t1");
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(PidTask("t2"), a);
  auto grown = RunTask(MakeTask("t3", "grow"));
  ASSERT_TRUE(grown && grown->ok);
  EXPECT_EQ(grown->output, a);
  std::string after = PidTask("t4");
  ASSERT_FALSE(after.empty());
  EXPECT_NE(after, a) << "a process over its memory cap was kept";
}

TEST_F(PoolTest, ChildrenAndTheForkServerEndWithTheWorker) {
  int child = 0;
  {
    RunningWorker w(PoolOptions(1), RegisterPoolHandlers);
    ASSERT_TRUE(broker_.WaitFor<Ready>(5s));
    child = std::atoi(PidTask("t1").c_str());
    ASSERT_GT(child, 0);
  }
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(child); }, 5s));
}

}  // namespace
}  // namespace taskmill::worker::testing
