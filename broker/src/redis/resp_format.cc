#include "redis/resp_format.h"

#include <charconv>

namespace taskmill::broker {
namespace {

// Appends <prefix><n>\r\n.
void AppendHeader(std::string& out, char prefix, size_t n) {
  char buf[24];
  buf[0] = prefix;
  auto [end, ec] = std::to_chars(buf + 1, buf + sizeof buf - 2, n);
  (void)ec;  // a size_t always fits in 20 digits
  *end++ = '\r';
  *end++ = '\n';
  out.append(buf, static_cast<size_t>(end - buf));
}

// The command of `n` arguments, argument i being data(i) (size(i) bytes).
template <typename Data, typename Size>
std::string Format(size_t n, Data data, Size size) {
  size_t total = 24;  // the array header
  for (size_t i = 0; i < n; ++i) total += size(i) + 26;  // "$" + up to 20 digits + 2 CRLFs
  std::string out;
  out.reserve(total);
  AppendHeader(out, '*', n);
  for (size_t i = 0; i < n; ++i) {
    AppendHeader(out, '$', size(i));
    out.append(data(i), size(i));
    out.append("\r\n", 2);
  }
  return out;
}

}  // namespace

std::string FormatCommand(std::span<const char* const> argv, std::span<const size_t> lens) {
  return Format(
      argv.size(), [&](size_t i) { return argv[i]; }, [&](size_t i) { return lens[i]; });
}

std::string FormatCommand(std::span<const std::string> args) {
  return Format(
      args.size(), [&](size_t i) { return args[i].data(); },
      [&](size_t i) { return args[i].size(); });
}

}  // namespace taskmill::broker
