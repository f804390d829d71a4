#pragma once

// The `taskmill` command line: shared plumbing of the command groups (cli_*.cc).

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "taskmill/client/client.h"
#include "taskmill/shared/flags.h"

namespace taskmill::client::cli {

// The exit codes, as documented in client/README.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;       // a task or batch failed (or an operation did)
inline constexpr int kExitUsage = 2;        // bad flags, arguments or batch file
inline constexpr int kExitUnreachable = 3;  // no broker answered in time

// Flags given before the command (also accepted after it, except --timeout-ms).
struct GlobalOptions {
  std::string broker = "tcp://127.0.0.1:5555";  // broker frontend endpoint
  bool json = false;                            // one JSON document on stdout
  uint32_t timeout_ms = 10000;                  // deadline of each request to the broker
  std::string curve_server_key;                 // broker's public key: .pub file or Z85
  std::string curve_key_file;                   // own CURVE key file (.key)
  // The admin key file the DLQ commands use instead (CURVE roles: the DLQ needs an admin key).
  std::string curve_admin_key_file;
};

// What one command runs with. Lives for one RunCli call, on the caller's thread.
struct Context {
  GlobalOptions global;
  std::ostream& out;
  std::ostream& err;
  bool tty = false;  // stdout is a terminal: live progress bar instead of plain lines
};

// The arguments of a command: [0] is the command's name ("submit", "batch run", ...).
using Args = std::vector<std::string>;

// Runs the whole CLI; returns the exit code. main() passes std::cout/std::cerr; tests pass
// string streams. `env` looks up environment variables (TASKMILL_BROKER, ...).
int RunCli(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err, bool tty,
           const std::function<std::string(const std::string&)>& env);

int RunSubmit(Context& ctx, const Args& args);
int RunGet(Context& ctx, const Args& args);
int RunWait(Context& ctx, const Args& args);
int RunCancel(Context& ctx, const Args& args);
int RunBatch(Context& ctx, const Args& args);
int RunStats(Context& ctx, const Args& args);
int RunDlq(Context& ctx, const Args& args);
int RunQueue(Context& ctx, const Args& args);   // cli_queue.cc
int RunWorker(Context& ctx, const Args& args);  // cli_queue.cc
int RunKeygen(Context& ctx, const Args& args);
int RunArtifacts(Context& ctx, const Args& args);
int RunComplete(Context& ctx, const Args& args);
int RunSchedule(Context& ctx, const Args& args);
int RunList(Context& ctx, const Args& args);       // cli_list.cc: `taskmill list`
int RunBatchList(Context& ctx, const Args& args);  // cli_list.cc: `taskmill batch list`
int RunTask(Context& ctx, const Args& args);       // cli_list.cc: `taskmill task priority|promote`

// Registers --json and --broker on a command's flags, so they may follow the command.
void AddCommonFlags(FlagSet& flags, GlobalOptions& global);
// Parses a command's flags (never from the environment). Returns an exit code when the
// command should stop now (--help: 0 after printing usage; a bad flag: 2 after the error).
std::optional<int> ParseFlags(Context& ctx, const FlagSet& flags, const Args& args,
                              std::vector<std::string>* positional);
// Prints "taskmill: <message>" on stderr and returns 2.
int UsageError(Context& ctx, const std::string& message);
// Reports a failed operation (stderr; with --json also {"error": ...} on stdout) and returns
// its exit code: 3 unreachable/timeout, 2 invalid input, 1 otherwise.
int ReportError(Context& ctx, const Error& error);
int ExitCodeFor(const Error& error);
// Connects to --broker; nullptr after reporting the error in *exit_code. `admin`: with
// --curve-admin-key-file's key instead of --curve-key-file's (the DLQ commands).
std::unique_ptr<Client> ConnectClient(Context& ctx, int* exit_code, bool admin = false);

}  // namespace taskmill::client::cli
