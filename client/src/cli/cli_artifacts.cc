// `taskmill artifacts ID [--out DIR]`: lists a task's artifacts, or writes them to DIR.

#include <iomanip>
#include <ostream>

#include "cli/cli.h"
#include "cli/json_convert.h"
#include "taskmill/client/artifacts.h"

namespace taskmill::client::cli {

int RunArtifacts(Context& ctx, const Args& args) {
  std::string out_dir;
  ArtifactFetchOptions options;
  FlagSet flags("taskmill artifacts ID",
                "Lists the files a task kept (name, size, sha256, where), or with --out "
                "writes them to DIR: inline ones from the task record, kept ones copied "
                "from the workers' --artifacts-dir volume. Names are checked, sha256 "
                "verified.");
  flags.String("out", &out_dir, "directory to write the artifacts into (created if missing)");
  flags.String("artifacts-root", &options.artifacts_root,
               "where this host mounts the workers' --artifacts-dir (default: the path in "
               "each artifact's file:// uri)");
  AddCommonFlags(flags, ctx.global);
  std::vector<std::string> ids;
  if (auto stop = ParseFlags(ctx, flags, args, &ids)) return *stop;
  if (ids.size() != 1) return UsageError(ctx, "artifacts: give exactly one task id");
  int code = kExitOk;
  auto client = ConnectClient(ctx, &code);
  if (!client) return code;
  auto task = client->Get(ids[0]);
  if (!task) return ReportError(ctx, task.error());
  if (out_dir.empty()) {
    if (ctx.global.json) {
      ctx.out << Dump(ToJson(task->artifacts)) << '\n';
      return kExitOk;
    }
    if (task->artifacts.empty()) ctx.err << "taskmill: task " << task->id << " kept no artifacts\n";
    for (const auto& a : task->artifacts) {
      ctx.out << a.name << "  " << a.size << "  " << a.sha256 << "  "
              << (a.uri.empty() ? std::string("(inline)") : a.uri) << '\n';
    }
    return kExitOk;
  }
  auto written = WriteArtifacts(*task, out_dir, options);
  if (!written) return ReportError(ctx, written.error());
  if (ctx.global.json) {
    ctx.out << Dump(nlohmann::json{{"written", *written}}) << '\n';
  } else {
    for (const auto& path : *written) ctx.out << path << '\n';
  }
  return kExitOk;
}

}  // namespace taskmill::client::cli
