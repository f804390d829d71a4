// taskmill: the command-line client. Everything lives in RunCli (cli_main.cc), so tests
// run the same code in-process.

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cli/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  int code = taskmill::client::cli::RunCli(args, std::cout, std::cerr, isatty(STDOUT_FILENO) == 1,
                                           [](const std::string& name) {
                                             const char* v = std::getenv(name.c_str());
                                             return std::string(v ? v : "");
                                           });
  std::cout.flush();
  return code;
}
