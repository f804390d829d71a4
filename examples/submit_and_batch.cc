// A taskmill client in C++: submit one task and wait for it, then run a two-step batch
// whose second step reads the first one's output, and print the costs.
//
//   build/examples/taskmill-example-cpp [tcp://127.0.0.1:5555]
//
// Needs a broker and a taskmill-worker running (see the README). Exits non-zero if
// anything fails, so the tests can run it.

#include <cstdio>
#include <iostream>

#include "taskmill/client/client.h"

using taskmill::client::Client;
using taskmill::protocol::TaskSpec;
using taskmill::protocol::TaskState;

static int Fail(const char* what, const taskmill::Error& e) {
  std::fprintf(stderr, "%s: %s\n", what, e.ToString().c_str());
  return 1;
}

int main(int argc, char** argv) {
  auto client = Client::Connect({.endpoint = argc > 1 ? argv[1] : "tcp://127.0.0.1:5555"});
  if (!client) return Fail("connect", client.error());

  // 1. One task: run a process, wait for its result.
  TaskSpec hello;
  hello.type = "exec";
  hello.payload = R"({"argv": ["sh", "-c", "echo hello from $TASKMILL_TASK_ID"]})";
  auto id = (*client)->Submit(hello);
  if (!id) return Fail("submit", id.error());
  auto done = (*client)->Wait({*id}, 30'000);
  if (!done || done->front().state != TaskState::kSucceeded) return 1;
  std::cout << "task " << *id << " said: " << done->front().stdout_data;

  // 2. A batch: "words" makes data, "count" reads it from its parent and reports a cost.
  taskmill::protocol::BatchSpec batch;
  TaskSpec words;
  words.name = "words";
  words.type = "exec";
  words.payload = R"({"argv": ["sh", "-c", "printf 'to be or not to be'"]})";
  TaskSpec count;
  count.name = "count";
  count.type = "exec";
  count.depends_on = {"words"};
  count.payload = R"({"argv": ["sh", "-c",
    "wc -w < \"$TASKMILL_PARENTS_DIR/words\"; echo '{\"usd\": 0.001}' > \"$TASKMILL_COST_FILE\""]})";
  batch.tasks = {words, count};
  batch.budget = {{"usd", 1.0}};
  auto submitted = (*client)->SubmitBatch(batch);
  if (!submitted) return Fail("batch", submitted.error());
  auto result = (*client)->Wait({submitted->tasks.at("count")}, 30'000);
  if (!result || result->front().state != TaskState::kSucceeded) return 1;
  std::cout << "words counted: " << result->front().output;

  auto status = (*client)->GetBatch(submitted->id);
  if (!status) return 1;
  std::cout << "batch " << status->id << " " << status->state << ", cost usd "
            << status->cost["usd"] << "\n";
  return status->state == "succeeded" ? 0 : 1;
}
