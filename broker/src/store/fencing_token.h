#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace taskmill::broker {

// Fencing tokens: one per claimed attempt, drawn from the kernel's CSPRNG (getrandom), never 0
// (0 means "token unknown" in the worker registry). A DONE or PROGRESS must echo its attempt's
// token, so a token must not be guessable from outside: an attempt counter (1 on a first
// attempt) let any peer forge a result. Distinct attempts get distinct tokens with
// probability 1 - 2^-64 per pair, which keeps fencing exactly-once.
// Thread: any (no state).
std::vector<uint64_t> NewFencingTokens(size_t n);

}  // namespace taskmill::broker
