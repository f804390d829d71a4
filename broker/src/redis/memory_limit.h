#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace taskmill::broker {

// The embedded Redis's maxmemory when --redis-maxmemory-mb is 0 (auto): half of what this
// process may use, the smaller of the machine's memory and its cgroup's limit, so that a
// Redis full of tasks refuses writes (store_full, noeviction) long before the kernel kills it.

// Half of min(physical, cgroup limit) in MiB, at least 64; `physical_bytes` 0 = unknown
// (then 0: no limit can be derived).
uint32_t AutoMaxmemoryMb(uint64_t physical_bytes, std::optional<uint64_t> cgroup_limit_bytes);
// The bytes of a cgroup v2 `memory.max` file's text; nullopt for "max" or anything unreadable.
std::optional<uint64_t> ParseCgroupMemoryMax(std::string_view text);
// AutoMaxmemoryMb for this machine (sysconf and /sys/fs/cgroup/memory.max).
uint32_t AutoMaxmemoryMbHere();

}  // namespace taskmill::broker
