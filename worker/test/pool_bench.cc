// Per-task cost of the process pool: a no-op handler run one task at a time through a fake
// broker (no Redis, no real broker), in-process (on an executor thread, and quick: on the
// I/O thread) and in a pool process (--processes 1). Prints tasks/s and the p50/p99 of the
// TASK -> DONE round trip. A program, not a test: build/worker/test/worker_pool_bench [tasks].

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "test_support.h"

namespace taskmill::worker::testing {
namespace {

void Bench(const char* label, uint32_t processes, bool quick, int tasks) {
  FakeBroker broker;
  WorkerOptions o = TestOptions(broker, 1);
  o.heartbeat_ms = 1000;
  o.processes = processes;
  RunningWorker w(o, [&](Worker& wk) {
    wk.Handle("noop", [](TaskContext&) { return Outcome::Ok(); }, {.quick = quick});
  });
  if (!broker.WaitFor<protocol::Ready>(5s)) {
    std::fprintf(stderr, "no READY\n");
    std::exit(1);
  }
  std::vector<double> us;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < tasks; ++i) {
    std::string id = "t" + std::to_string(i);
    auto start = std::chrono::steady_clock::now();
    broker.Send(MakeTask(id, "noop", "", i + 1));
    auto done = broker.WaitFor<protocol::Done>(
        10s, [&](const protocol::Done& d) { return d.task_id == id; });
    if (!done || !done->ok) {
      std::fprintf(stderr, "task %s failed\n", id.c_str());
      std::exit(1);
    }
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() -
                                                           start)
                     .count());
  }
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::sort(us.begin(), us.end());
  std::printf("%-28s %6.0f tasks/s  p50 %5.0f us  p99 %6.0f us\n", label, tasks / total,
              us[us.size() / 2], us[us.size() * 99 / 100]);
}

}  // namespace
}  // namespace taskmill::worker::testing

int main(int argc, char** argv) {
  using taskmill::worker::testing::Bench;
  int tasks = argc > 1 ? std::atoi(argv[1]) : 3000;
  for (int round = 0; round < 2; ++round) {
    Bench("in-process, quick", 0, true, tasks);
    Bench("in-process, executor thread", 0, false, tasks);
    Bench("--processes 1", 1, false, tasks);
  }
  return 0;
}
