#include "handlers/exec_spec.h"

#include <algorithm>
#include <filesystem>

#include "handlers/payload.h"

namespace taskmill::worker {
namespace {

// The optional "limits" map: each field falls back to the worker's default.
Result<ResourceLimits> ParseLimits(const Json& doc, const ResourceLimits& defaults) {
  ResourceLimits limits = defaults;
  const Json* map = Find(doc, "limits");
  if (!map || map->is_null()) return limits;
  if (!map->is_object()) {
    return MakeError(ErrorCode::kInvalidArgument, "limits must be a map, not " + DescribeType(*map));
  }
  for (const auto& [name, value] : map->items()) {
    if (name != "cpu_seconds" && name != "memory_mb" && name != "open_files" &&
        name != "processes") {
      return MakeError(ErrorCode::kInvalidArgument,
                       "limits." + name +
                           " is not a limit (cpu_seconds, memory_mb, open_files, processes)");
    }
  }
  struct Field {
    const char* name;
    uint64_t* slot;
  };
  for (auto [name, slot] : {Field{"cpu_seconds", &limits.cpu_seconds},
                            Field{"memory_mb", &limits.memory_mb},
                            Field{"open_files", &limits.open_files},
                            Field{"processes", &limits.processes}}) {
    auto v = GetUint(*map, name);
    if (!v) return MakeError(ErrorCode::kInvalidArgument, "limits." + v.error().message);
    if (*v) {
      if (**v > (1ull << 32)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         std::string("limits.") + name + " is larger than 2^32");
      }
      *slot = **v;
    }
  }
  return limits;
}

Result<std::optional<GitSpec>> ParseGit(const Json& doc) {
  const Json* git = Find(doc, "git");
  if (!git || git->is_null()) return std::optional<GitSpec>{};
  if (!git->is_object()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "git must be a map {repo, ref}, not " + DescribeType(*git));
  }
  auto repo = GetString(*git, "repo");
  if (!repo) return MakeError(ErrorCode::kInvalidArgument, "git." + repo.error().message);
  auto ref = GetString(*git, "ref");
  if (!ref) return MakeError(ErrorCode::kInvalidArgument, "git." + ref.error().message);
  return std::optional<GitSpec>(GitSpec{repo->value_or(""), ref->value_or("")});
}

}  // namespace

Result<ExecSpec> ParseExecSpec(std::string_view payload, const ExecOptions& options) {
  auto bad = [](std::string m) { return MakeError(ErrorCode::kInvalidArgument, std::move(m)); };
  auto doc = ParsePayload(payload);
  if (!doc) return std::unexpected(doc.error());
  if (!doc->is_object()) {
    return bad(std::string("exec payload must be a map (a JSON object such as {\"argv\": "
                           "[\"echo\", \"hi\"]}), not ") +
               DescribeType(*doc));
  }
  ExecSpec spec;
  const Json* argv = Find(*doc, "argv");
  if (!argv || !argv->is_array() || argv->empty()) {
    return bad("argv must be a non-empty array of strings");
  }
  for (const auto& a : *argv) {
    if (!a.is_string()) return bad("argv must be an array of strings");
    const auto& arg = a.get_ref<const std::string&>();
    if (arg.find('\0') != std::string::npos) return bad("argv holds a NUL byte");
    spec.argv.push_back(arg);
  }
  if (const Json* env = Find(*doc, "env"); env && !env->is_null()) {
    if (!env->is_object()) return bad("env must be a map of strings");
    for (const auto& [k, v] : env->items()) {
      if (!v.is_string()) return bad("env." + k + " must be a string");
      const auto& value = v.get_ref<const std::string&>();
      if (k.empty() || k.find('=') != std::string::npos || k.find('\0') != std::string::npos ||
          value.find('\0') != std::string::npos) {
        return bad("env has an invalid name or value: '" + k + "'");
      }
      spec.env.emplace_back(k, value);
    }
  }
  auto stdin_data = GetString(*doc, "stdin");
  if (!stdin_data) return std::unexpected(stdin_data.error());
  spec.stdin_data = stdin_data->value_or("");
  auto cwd = GetString(*doc, "cwd");
  if (!cwd) return std::unexpected(cwd.error());
  spec.cwd = cwd->value_or("");
  std::filesystem::path rel(spec.cwd);
  if (rel.is_absolute() || spec.cwd.find('\0') != std::string::npos) {
    return bad("cwd must be a path relative to the task's working directory");
  }
  for (const auto& part : rel) {
    if (part == "..") return bad("cwd may not leave the task's working directory");
  }
  auto timeout = GetUint(*doc, "timeout_ms");
  if (!timeout) return std::unexpected(timeout.error());
  spec.timeout_ms = timeout->value_or(0);
  auto retry = GetBool(*doc, "retry_on_nonzero");
  if (!retry) return std::unexpected(retry.error());
  spec.retry_on_nonzero = retry->value_or(true);
  auto max_out = GetUint(*doc, "max_output_bytes");
  if (!max_out) return std::unexpected(max_out.error());
  spec.max_output_bytes =
      std::min(max_out->value_or(options.max_output_bytes), options.max_output_ceiling);
  auto isolation = GetString(*doc, "isolation");
  if (!isolation) return std::unexpected(isolation.error());
  spec.isolation = options.isolation;
  if (*isolation) {
    auto level = ParseIsolationLevel(**isolation);
    if (!level) {
      return bad("isolation must be none, directory, branch or full, not '" + **isolation + "'");
    }
    spec.isolation = *level;
  }
  auto git = ParseGit(*doc);
  if (!git) return std::unexpected(git.error());
  spec.git = std::move(*git);
  auto limits = ParseLimits(*doc, options.limits);
  if (!limits) return std::unexpected(limits.error());
  spec.limits = *limits;
  return spec;
}

}  // namespace taskmill::worker
