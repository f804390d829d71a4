#pragma once

// The JSON form of a test vector: the exact frames in hex plus a readable description of
// the body (msgpack turned into JSON; bin values as {"$bin": "<hex>"}, floats always
// written with a decimal point or exponent so they read back as floats).

#include <string>
#include <string_view>
#include <vector>

#include "sample_messages.h"

namespace taskmill::protocol::testing {

std::string VectorJson(const Sample& sample);
std::string Hex(std::string_view bytes);
std::string Unhex(std::string_view hex);
// The "frames_hex" strings of a vector file written by VectorJson.
std::vector<std::string> FramesFromVectorJson(const std::string& json);

}  // namespace taskmill::protocol::testing
