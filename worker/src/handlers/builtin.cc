// The small built-ins for demos, tests and benchmarks: echo, sleep, fail.

#include "handlers/payload.h"
#include "taskmill/worker/builtins.h"
#include "taskmill/worker/worker.h"

namespace taskmill::worker {
namespace {

Result<Json> PayloadMap(const TaskContext& ctx) {
  // An empty payload reads as an empty map, so `sleep` and `fail` work without one.
  if (ctx.payload().empty()) return Json::object();
  auto doc = ParsePayload(ctx.payload());
  if (!doc) return doc;
  if (!doc->is_object()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "payload must be a map (a JSON object or msgpack map), not " +
                         DescribeType(*doc));
  }
  return doc;
}

}  // namespace

Outcome RunEcho(TaskContext& ctx) { return Outcome::Ok(std::string(ctx.payload())); }

Outcome RunSleep(TaskContext& ctx) {
  auto doc = PayloadMap(ctx);
  if (!doc) return Outcome::Fail("bad_payload", doc.error().message, false);
  auto ms = GetUint(*doc, "ms");
  if (!ms) return Outcome::Fail("bad_payload", ms.error().message, false);
  uint64_t total = ms->value_or(0);
  if (ctx.WaitCancelled(std::chrono::milliseconds(total))) {
    return Outcome::Fail("cancelled", "sleep interrupted", false);
  }
  return Outcome::Ok();
}

Outcome RunFail(TaskContext& ctx) {
  auto doc = PayloadMap(ctx);
  if (!doc) return Outcome::Fail("bad_payload", doc.error().message, false);
  auto k = GetUint(*doc, "fail_attempts");
  if (!k) return Outcome::Fail("bad_payload", k.error().message, false);
  auto retryable = GetBool(*doc, "retryable");
  if (!retryable) return Outcome::Fail("bad_payload", retryable.error().message, false);
  uint64_t fail_attempts = k->value_or(1);
  if (ctx.attempt() <= fail_attempts) {
    return Outcome::Fail("injected_failure",
                         "attempt " + std::to_string(ctx.attempt()) + " of the first " +
                             std::to_string(fail_attempts) + " fails by request",
                         retryable->value_or(true));
  }
  return Outcome::Ok("succeeded on attempt " + std::to_string(ctx.attempt()));
}

void RegisterBuiltins(Worker& worker, const ExecOptions& exec_options) {
  worker.Handle("exec", [exec_options](TaskContext& ctx) { return RunExec(ctx, exec_options); });
  // echo and fail do no I/O and return at once: they run on the I/O thread.
  worker.Handle("echo", RunEcho, {.quick = true});
  worker.Handle("sleep", RunSleep);
  worker.Handle("fail", RunFail, {.quick = true});
}

}  // namespace taskmill::worker
