#include "taskmill/shared/protocol/codec.h"

namespace taskmill::protocol {

Command CommandOf(const Message& msg) {
  return std::visit([](const auto& m) { return std::decay_t<decltype(m)>::kCommand; }, msg);
}

Frames Encode(const Message& msg) {
  return Frames{std::string(kVersion), std::string(1, static_cast<char>(CommandOf(msg))),
                EncodeBody(msg)};
}

Result<Message> Decode(std::span<const std::string_view> frames, const DecodeLimits& limits) {
  if (frames.size() != 3) {
    return MakeError(ErrorCode::kBadFrame, "expected 3 frames (version, command, body), got " +
                                               std::to_string(frames.size()));
  }
  if (frames[0] != kVersion) {
    std::string shown(frames[0].substr(0, 16));
    for (char& c : shown) {
      if (c < 0x20 || c > 0x7e) c = '?';
    }
    return MakeError(ErrorCode::kUnknownVersion,
                     "protocol version '" + shown + "' is not supported (this peer speaks TM1)");
  }
  if (frames[1].size() != 1) {
    return MakeError(ErrorCode::kBadFrame, "command frame must be exactly 1 byte, got " +
                                               std::to_string(frames[1].size()));
  }
  auto command = static_cast<Command>(static_cast<uint8_t>(frames[1][0]));
  if (CommandName(command)[0] == '?') {
    return MakeError(
        ErrorCode::kUnknownCommand,
        "unknown command byte 0x" +
            std::string(1, "0123456789abcdef"[(static_cast<uint8_t>(frames[1][0]) >> 4)]) +
            std::string(1, "0123456789abcdef"[static_cast<uint8_t>(frames[1][0]) & 15]));
  }
  return DecodeBody(command, frames[2], limits);
}

}  // namespace taskmill::protocol
