#pragma once

// Encode and decode protocol messages. Decoding is the trust boundary: it never throws,
// never allocates more than the input can justify, and rejects anything over limits.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::protocol {

// Limits the decoder enforces. Every declared size is also checked against the bytes
// that remain, so a short frame can never make the decoder allocate much.
struct DecodeLimits {
  size_t max_frame_bytes = 16u << 20;  // body frame cap
  uint32_t max_array = 100'000;        // elements in one array
  uint32_t max_map = 10'000;           // entries in one map
  uint32_t max_str = 1u << 20;         // bytes in one string
  uint32_t max_bin = 16u << 20;        // bytes in one bin
  uint32_t max_depth = 16;             // nesting of arrays/maps
  uint64_t max_elements = 1'000'000;   // array elements + map entries in one message
};

// The three frames of a message, without the ROUTER identity.
struct Frames {
  std::string version;  // "TM1"
  std::string command;  // one byte
  std::string body;     // msgpack map
};

// Encodes the body of a message (a msgpack map).
std::string EncodeBody(const Message& msg);
// Encodes a whole message.
Frames Encode(const Message& msg);

// Decodes a message from its frames (version, command, body).
Result<Message> Decode(std::span<const std::string_view> frames, const DecodeLimits& limits = {});
// Decodes a body for a known command.
Result<Message> DecodeBody(Command command, std::string_view body, const DecodeLimits& limits = {});

// The command of a message.
Command CommandOf(const Message& msg);

// Decodes a TaskSpec encoded on its own (as the store keeps it).
Result<TaskSpec> DecodeTaskSpec(std::string_view bytes, const DecodeLimits& limits = {});
std::string EncodeTaskSpec(const TaskSpec& spec);

}  // namespace taskmill::protocol
