// taskmill complete: an outside system completes a task awaiting it (completion modes,
// docs/protocol.md), with the completion token the task's handler gave out.

#include <fstream>
#include <iterator>

#include "cli/cli.h"
#include "cli/json_convert.h"
#include "taskmill/client/client.h"

namespace taskmill::client::cli {

int RunComplete(Context& ctx, const Args& args) {
  std::string token, output, output_file, fail_code, message;
  std::vector<std::string> costs;
  bool retryable = false;
  FlagSet flags("taskmill complete",
                "Completes a task awaiting an outside system (taskmill complete ID --token T).");
  flags.String("token", &token, "the completion token the task's handler gave out (required)");
  flags.String("output", &output, "the task's output");
  flags.String("output-file", &output_file, "read the task's output from this file");
  flags.List("cost", &costs, "NAME=AMOUNT added to the task's costs; repeatable");
  flags.String("fail", &fail_code, "record the attempt as failed with this error code");
  flags.String("message", &message, "with --fail: the error message");
  flags.Bool("retryable", &retryable, "with --fail: retry the task by its policy");
  AddCommonFlags(flags, ctx.global);
  std::vector<std::string> ids;
  if (auto stop = ParseFlags(ctx, flags, args, &ids)) return *stop;
  if (ids.size() != 1) return UsageError(ctx, "complete: give exactly one task id");
  if (token.empty()) return UsageError(ctx, "complete: --token is required");
  if (!output.empty() && !output_file.empty()) {
    return UsageError(ctx, "complete: --output and --output-file are exclusive");
  }
  if (fail_code.empty() && (!message.empty() || retryable)) {
    return UsageError(ctx, "complete: --message and --retryable need --fail CODE");
  }
  protocol::Complete c;
  c.task_id = ids[0];
  c.token = token;
  c.output = output;
  if (!output_file.empty()) {
    std::ifstream in(output_file, std::ios::binary);
    if (!in) return UsageError(ctx, "complete: cannot read --output-file " + output_file);
    c.output.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  for (const auto& kv : costs) {
    auto eq = kv.find('=');
    double amount = 0;
    try {
      size_t used = 0;
      if (eq == std::string::npos || eq == 0) throw std::invalid_argument("no name");
      amount = std::stod(kv.substr(eq + 1), &used);
      if (used != kv.size() - eq - 1) throw std::invalid_argument("trailing text");
    } catch (const std::exception&) {
      return UsageError(ctx, "--cost: '" + kv + "' is not NAME=AMOUNT");
    }
    c.cost[kv.substr(0, eq)] += amount;
  }
  if (!fail_code.empty()) {
    c.ok = false;
    c.error = protocol::TaskError{fail_code, message, retryable};
  }
  int code = kExitOk;
  auto client = ConnectClient(ctx, &code);
  if (!client) return code;
  if (auto r = client->Complete(std::move(c)); !r) return ReportError(ctx, r.error());
  if (ctx.global.json) {
    ctx.out << Dump(nlohmann::json{{"id", ids[0]}, {"completed", true}}) << '\n';
  } else {
    ctx.out << "completed " << ids[0] << '\n';
  }
  return kExitOk;
}

}  // namespace taskmill::client::cli
