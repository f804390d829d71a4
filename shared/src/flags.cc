#include "taskmill/shared/flags.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>

#include "taskmill/shared/duration.h"

namespace taskmill {
namespace {

Result<uint64_t> ParseUint(const std::string& flag, const std::string& text, uint64_t min,
                           uint64_t max) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--" + flag + ": '" + text + "' is not a whole number (allowed: " +
                         std::to_string(min) + ".." + std::to_string(max) + ")");
  }
  if (value < min || value > max) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--" + flag + ": " + text + " is out of range (allowed: " +
                         std::to_string(min) + ".." + std::to_string(max) + ")");
  }
  return value;
}

std::vector<std::string> SplitComma(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

FlagSet::FlagSet(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void FlagSet::Add(Flag flag) {
  // --version is a question, not configuration: TASKMILL_VERSION must not answer it.
  flag.env = flag.name == "version" ? "" : EnvName(flag.name);
  index_[flag.name] = flags_.size();
  flags_.push_back(std::move(flag));
}

void FlagSet::String(const std::string& name, std::string* target, const std::string& help) {
  Add({name, help, *target, false, [target](const std::string& v) -> Result<void> {
         *target = v;
         return {};
       }});
}

void FlagSet::Choice(const std::string& name, std::string* target, std::vector<std::string> allowed,
                     const std::string& help) {
  std::string joined;
  for (const auto& a : allowed) joined += (joined.empty() ? "" : ", ") + a;
  Add({name, help + " (one of: " + joined + ")", *target, false,
       [name, target, allowed, joined](const std::string& v) -> Result<void> {
         if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
           return MakeError(ErrorCode::kInvalidArgument,
                            "--" + name + ": '" + v + "' is not one of: " + joined);
         }
         *target = v;
         return {};
       }});
}

void FlagSet::Uint(const std::string& name, uint64_t* target, uint64_t min, uint64_t max,
                   const std::string& help) {
  Add({name, help, std::to_string(*target), false,
       [name, target, min, max](const std::string& v) -> Result<void> {
         auto parsed = ParseUint(name, v, min, max);
         if (!parsed) return std::unexpected(parsed.error());
         *target = *parsed;
         return {};
       }});
}

void FlagSet::Uint32(const std::string& name, uint32_t* target, uint32_t min, uint32_t max,
                     const std::string& help) {
  Add({name, help, std::to_string(*target), false,
       [name, target, min, max](const std::string& v) -> Result<void> {
         auto parsed = ParseUint(name, v, min, max);
         if (!parsed) return std::unexpected(parsed.error());
         *target = static_cast<uint32_t>(*parsed);
         return {};
       }});
}

void FlagSet::Duration(const std::string& name, uint64_t* target_ms, uint64_t min_ms,
                       uint64_t max_ms, const std::string& help) {
  Add({name, help, FormatDurationMs(*target_ms), false,
       [name, target_ms, min_ms, max_ms](const std::string& v) -> Result<void> {
         auto parsed = ParseDurationMs(v, "--" + name);
         if (!parsed) return std::unexpected(parsed.error());
         if (*parsed < min_ms || *parsed > max_ms) {
           return MakeError(ErrorCode::kInvalidArgument,
                            "--" + name + ": " + v + " is out of range (allowed: " +
                                FormatDurationMs(min_ms) + " to " + FormatDurationMs(max_ms) +
                                ")");
         }
         *target_ms = *parsed;
         return {};
       }});
}

void FlagSet::Double(const std::string& name, double* target, double min, double max,
                     const std::string& help) {
  std::ostringstream def;
  def << *target;
  Add({name, help, def.str(), false,
       [name, target, min, max](const std::string& v) -> Result<void> {
         char* end = nullptr;
         double value = std::strtod(v.c_str(), &end);
         if (v.empty() || end != v.c_str() + v.size() || !(value >= min && value <= max)) {
           std::ostringstream msg;
           msg << "--" << name << ": '" << v << "' is not a number in " << min << ".." << max;
           return MakeError(ErrorCode::kInvalidArgument, msg.str());
         }
         *target = value;
         return {};
       }});
}

void FlagSet::Bool(const std::string& name, bool* target, const std::string& help) {
  Add({name, help, *target ? "true" : "false", true,
       [name, target](const std::string& v) -> Result<void> {
         if (v == "1" || v == "true" || v == "yes" || v == "on") {
           *target = true;
         } else if (v == "0" || v == "false" || v == "no" || v == "off") {
           *target = false;
         } else {
           return MakeError(ErrorCode::kInvalidArgument,
                            "--" + name + ": '" + v + "' is not a boolean (allowed: true, false)");
         }
         return {};
       }});
}

void FlagSet::List(const std::string& name, std::vector<std::string>* target,
                   const std::string& help) {
  std::string def;
  for (const auto& t : *target) def += (def.empty() ? "" : ",") + t;
  // The first value given replaces the default; later ones append.
  auto replaced = std::make_shared<bool>(false);
  Add({name, help, def, false, [target, replaced](const std::string& v) -> Result<void> {
         if (!*replaced) {
           target->clear();
           *replaced = true;
         }
         for (auto& item : SplitComma(v)) target->push_back(item);
         return {};
       }});
}

void FlagSet::SetEnvName(const std::string& name, std::string env) {
  if (auto it = index_.find(name); it != index_.end()) flags_[it->second].env = std::move(env);
}

std::string FlagSet::EnvName(const std::string& flag) {
  std::string env = "TASKMILL_";
  for (char c : flag) env += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return env;
}

Result<FlagSet::Parsed> FlagSet::Parse(
    int argc, const char* const* argv,
    const std::function<std::string(const std::string&)>& env) const {
  for (const auto& flag : flags_) {
    if (!read_env_ || flag.env.empty()) continue;
    std::string value = env(flag.env);
    if (value.empty()) continue;
    auto r = flag.set(value);
    if (!r) {
      return MakeError(ErrorCode::kInvalidArgument, flag.env + " (" + r.error().message + ")");
    }
  }
  Parsed parsed;
  bool positional_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (positional_only || arg.size() < 3 || arg.rfind("--", 0) != 0) {
      if (arg == "--") {
        positional_only = true;
        continue;
      }
      if (arg == "-h") {
        parsed.help = true;
        continue;
      }
      if (!positional_only && arg.size() > 1 && arg[0] == '-' && arg != "-") {
        return MakeError(ErrorCode::kInvalidArgument,
                         "unknown flag '" + arg + "' (see " + program_ + " --help)");
      }
      parsed.positional.push_back(arg);
      if (stop_at_positional_) positional_only = true;
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (name == "help") {
      parsed.help = true;
      continue;
    }
    auto it = index_.find(name);
    bool negated = false;
    if (it == index_.end() && name.rfind("no-", 0) == 0) {
      it = index_.find(name.substr(3));
      negated = it != index_.end() && flags_[it->second].is_bool;
      if (!negated) it = index_.end();
    }
    if (it == index_.end()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "unknown flag '--" + name + "' (see " + program_ + " --help)");
    }
    const Flag& flag = flags_[it->second];
    if (!value) {
      if (flag.is_bool) {
        value = negated ? "false" : "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return MakeError(ErrorCode::kInvalidArgument, "--" + name + " needs a value");
      }
    }
    auto r = flag.set(*value);
    if (!r) return std::unexpected(r.error());
  }
  return parsed;
}

Result<FlagSet::Parsed> FlagSet::Parse(int argc, const char* const* argv) const {
  return Parse(argc, argv, [](const std::string& name) {
    const char* v = std::getenv(name.c_str());
    return std::string(v ? v : "");
  });
}

std::string FlagSet::Usage() const {
  std::ostringstream out;
  out << "usage: " << program_ << " [flags]\n" << summary_ << "\n\nflags:\n";
  for (const auto& f : flags_) {
    out << "  --" << f.name << (f.is_bool ? "" : " VALUE") << "\n      " << f.help;
    if (!f.default_text.empty()) out << " (default: " << f.default_text << ")";
    if (read_env_ && !f.env.empty()) out << " [env " << f.env << "]";
    out << "\n";
  }
  return out.str();
}

}  // namespace taskmill
