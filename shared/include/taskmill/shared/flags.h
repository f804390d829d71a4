#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "taskmill/shared/error.h"

namespace taskmill {

// Command-line flags for every taskmill binary. Each flag may also come from an
// environment variable (default TASKMILL_<NAME>, dashes as underscores); precedence is
// default < environment < command line. Values are validated on parse and an error
// says which flag, what was wrong and what is allowed.
// Lifecycle: build it in main(), register flags pointing at config fields, Parse once.
class FlagSet {
 public:
  FlagSet(std::string program, std::string summary);

  void String(const std::string& name, std::string* target, const std::string& help);
  // A string that must be one of `allowed`.
  void Choice(const std::string& name, std::string* target, std::vector<std::string> allowed,
              const std::string& help);
  void Uint(const std::string& name, uint64_t* target, uint64_t min, uint64_t max,
            const std::string& help);
  void Uint32(const std::string& name, uint32_t* target, uint32_t min, uint32_t max,
              const std::string& help);
  void Double(const std::string& name, double* target, double min, double max,
              const std::string& help);
  // A duration in the one syntax of new duration flags (duration.h: 250ms, 30s, 5m, 2h),
  // stored in milliseconds, within [min_ms, max_ms].
  void Duration(const std::string& name, uint64_t* target_ms, uint64_t min_ms, uint64_t max_ms,
                const std::string& help);
  void Bool(const std::string& name, bool* target, const std::string& help);
  // A flag that may be given many times (and comma-separated); the env var is comma-separated.
  void List(const std::string& name, std::vector<std::string>* target, const std::string& help);

  struct Parsed {
    bool help = false;                    // --help was given; print Usage() and exit 0
    std::vector<std::string> positional;  // arguments that are not flags
  };
  // `env` looks up an environment variable (empty string when unset); tests pass a map.
  Result<Parsed> Parse(int argc, const char* const* argv,
                       const std::function<std::string(const std::string&)>& env) const;
  // Parse with the process environment.
  Result<Parsed> Parse(int argc, const char* const* argv) const;

  // Usage text; each flag read from the environment names its variable as [env NAME].
  std::string Usage() const;
  // Reads flag `name` from the environment variable `env` instead of TASKMILL_<NAME>, or
  // from none when `env` is empty. Call after registering the flag.
  void SetEnvName(const std::string& name, std::string env);
  // false: no flag comes from the environment (nor says so in Usage); for subcommands.
  void ReadEnvironment(bool read) { read_env_ = read; }
  // Stop parsing flags at the first positional argument (for subcommands).
  void StopAtPositional(bool stop) { stop_at_positional_ = stop; }

 private:
  struct Flag {
    std::string name;
    std::string help;
    std::string default_text;
    bool is_bool = false;
    std::function<Result<void>(const std::string&)> set;  // parses and stores one value
    std::string env = {};  // the environment variable it is read from; empty: none
  };
  void Add(Flag flag);
  static std::string EnvName(const std::string& flag);

  std::string program_;
  std::string summary_;
  std::vector<Flag> flags_;              // in registration order, for Usage()
  std::map<std::string, size_t> index_;  // name -> position in flags_
  bool read_env_ = true;              // false: no flag is read from the environment
  bool stop_at_positional_ = false;  // true: everything after the first positional is positional
};

}  // namespace taskmill
