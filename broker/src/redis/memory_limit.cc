#include "redis/memory_limit.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace taskmill::broker {

namespace {
constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kMinMb = 64;
constexpr uint64_t kMaxMb = 1u << 22;  // the flag's own bound (4 TiB)
}  // namespace

uint32_t AutoMaxmemoryMb(uint64_t physical_bytes, std::optional<uint64_t> cgroup_limit_bytes) {
  if (physical_bytes == 0) return 0;
  uint64_t usable = physical_bytes;
  if (cgroup_limit_bytes && *cgroup_limit_bytes > 0) usable = std::min(usable, *cgroup_limit_bytes);
  uint64_t mb = usable / 2 / kMiB;
  return static_cast<uint32_t>(std::clamp(mb, kMinMb, kMaxMb));
}

std::optional<uint64_t> ParseCgroupMemoryMax(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

uint32_t AutoMaxmemoryMbHere() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long page = sysconf(_SC_PAGE_SIZE);
  uint64_t physical = pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
  std::optional<uint64_t> cgroup;
  if (std::ifstream f("/sys/fs/cgroup/memory.max"); f) {
    std::stringstream ss;
    ss << f.rdbuf();
    cgroup = ParseCgroupMemoryMax(ss.str());
  }
  return AutoMaxmemoryMb(physical, cgroup);
}

}  // namespace taskmill::broker
