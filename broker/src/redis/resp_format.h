#pragma once

// RESP encoding of one Redis command, for redisAsyncFormattedCommand.

#include <cstddef>
#include <span>
#include <string>

namespace taskmill::broker {

// The command argv[0..n) (argument i is lens[i] bytes at argv[i], binary-safe) as one RESP
// array of bulk strings: byte for byte what hiredis's redisFormatCommandArgv writes, in one
// allocation. hiredis's own formatter appends every length with sdscatfmt, which was a third
// of the broker's instructions per task in a latency run (callgrind, claims of 32 tokens).
// argv and lens have the same size.
std::string FormatCommand(std::span<const char* const> argv, std::span<const size_t> lens);
// The same for whole strings, with no argv/lens arrays to build first.
std::string FormatCommand(std::span<const std::string> args);

}  // namespace taskmill::broker
