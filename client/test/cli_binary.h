#pragma once

// Running the built taskmill binary against a broker from integration tests: its exit code,
// stdout and stderr, captured through files.

#include <sys/wait.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "support/child_process.h"
#include "test_paths.h"  // TASKMILL_SOURCE_DIR, TASKMILL_BUILD_DIR

namespace taskmill::client::testing {

// A single-quoted shell word.
inline std::string ShellQuote(const std::string& arg) {
  std::string q = "'";
  for (char c : arg) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The built `taskmill --broker <broker> <args...>`, stdin from /dev/null; its output goes
// through files in `dir`.
inline CliRun RunCliBinary(const std::string& broker, const std::vector<std::string>& args,
                           const std::string& dir) {
  std::string cmd = ShellQuote(std::string(TASKMILL_BUILD_DIR) + "/client/taskmill") +
                    " --broker " + ShellQuote(broker);
  for (const auto& a : args) cmd += " " + ShellQuote(a);
  std::string out = dir + "/cli.out", err = dir + "/cli.err";
  cmd += " >" + ShellQuote(out) + " 2>" + ShellQuote(err) + " </dev/null";
  int status = std::system(cmd.c_str());
  CliRun r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = taskmill::testing::ReadFile(out);
  r.err = taskmill::testing::ReadFile(err);
  return r;
}

}  // namespace taskmill::client::testing
