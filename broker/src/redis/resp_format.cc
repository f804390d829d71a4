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

}  // namespace

std::string FormatCommand(std::span<const char* const> argv, std::span<const size_t> lens) {
  size_t total = 24;  // the array header
  for (size_t len : lens) total += len + 26;  // "$" + up to 20 digits + 2 CRLFs
  std::string out;
  out.reserve(total);
  AppendHeader(out, '*', argv.size());
  for (size_t i = 0; i < argv.size(); ++i) {
    AppendHeader(out, '$', lens[i]);
    out.append(argv[i], lens[i]);
    out.append("\r\n", 2);
  }
  return out;
}

}  // namespace taskmill::broker
