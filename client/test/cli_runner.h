#pragma once

// Running the taskmill CLI in-process from tests, with a fake environment (cli_binary.h runs
// the built binary).

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli.h"

namespace taskmill::client::testing {

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

// `taskmill <args...>` in this process; `env` stands in for the TASKMILL_* variables.
inline CliRun RunCliInProcess(std::vector<std::string> args,
                              const std::map<std::string, std::string>& env = {}) {
  args.insert(args.begin(), "taskmill");
  std::ostringstream out, err;
  int code = cli::RunCli(args, out, err, false, [&](const std::string& name) {
    auto it = env.find(name);
    return it == env.end() ? std::string() : it->second;
  });
  return {code, out.str(), err.str()};
}

}  // namespace taskmill::client::testing
