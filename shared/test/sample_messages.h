#pragma once

// One or more sample messages per command, every field used at least once. They are the
// source of the shared test vectors (shared/protocol/vectors/) and of the round-trip tests.

#include <string>
#include <utility>
#include <vector>

#include "taskmill/shared/protocol/messages.h"

namespace taskmill::protocol::testing {

struct Sample {
  std::string name;  // vector file stem, e.g. "submit_full"
  Message message;
};

std::vector<Sample> SampleMessages();

}  // namespace taskmill::protocol::testing
