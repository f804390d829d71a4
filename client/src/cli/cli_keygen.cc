// `taskmill keygen NAME`: a CURVE key pair as DIR/NAME.key (secret, mode 0600) and
// DIR/NAME.pub (public), for the broker, a worker or a client (docs/security.md).

#include <ostream>

#include "cli/cli.h"
#include "cli/json_convert.h"
#include "taskmill/shared/curve_keys.h"

namespace taskmill::client::cli {

int RunKeygen(Context& ctx, const Args& args) {
  std::string dir = ".";
  bool force = false;
  FlagSet flags("taskmill keygen NAME",
                "Writes a CURVE key pair: DIR/NAME.key (keep it secret, mode 0600) and "
                "DIR/NAME.pub (give it to the broker's --curve-allow-dir, or, for the "
                "broker's own pair, to clients and workers as --curve-server-key).");
  flags.String("dir", &dir, "directory to write the two files into (must exist)");
  flags.Bool("force", &force, "replace NAME.key and NAME.pub if they exist");
  flags.Bool("json", &ctx.global.json, "print one JSON document on stdout");
  std::vector<std::string> positional;
  if (auto stop = ParseFlags(ctx, flags, args, &positional)) return *stop;
  if (positional.size() != 1) {
    return UsageError(ctx, "keygen: give exactly one NAME (see taskmill keygen --help)");
  }
  if (dir.empty()) return UsageError(ctx, "--dir: must not be empty");
  auto keys = GenerateCurveKeyPair();
  if (!keys) return ReportError(ctx, keys.error());
  auto files = WriteCurveKeyFiles(dir, positional[0], *keys, force);
  if (!files) {
    if (files.error().code == ErrorCode::kConflict) return UsageError(ctx, files.error().message);
    if (files.error().message.find("is not allowed") != std::string::npos) {
      return UsageError(ctx, "keygen: " + files.error().message);
    }
    if (files.error().message.find("does not exist") != std::string::npos) {
      return UsageError(ctx, "--dir: " + files.error().message);
    }
    return ReportError(ctx, files.error());
  }
  if (ctx.global.json) {
    ctx.out << Dump(nlohmann::json{{"key_file", files->key_file},
                                   {"pub_file", files->pub_file},
                                   {"public_key", keys->public_key}})
            << '\n';
  } else {
    ctx.out << "wrote " << files->key_file << " (secret, mode 0600) and " << files->pub_file
            << "\npublic key: " << keys->public_key << '\n';
  }
  return kExitOk;
}

}  // namespace taskmill::client::cli
