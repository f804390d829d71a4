// libFuzzer target for the protocol decoder, the one place untrusted bytes enter.
// Each input is read four ways: as the three frames of a message (first 3 bytes, 1 byte,
// the rest), as a body for every command, as a body under tight limits, and as a stored
// TaskSpec. Whatever decodes must survive a round trip: encode, decode again, compare,
// and encode once more to the same bytes (canonical form is a fixed point). A mismatch
// is a bug, reported as a crash with __builtin_trap so libFuzzer saves the input.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>

#include "taskmill/shared/protocol/codec.h"

namespace {

using namespace taskmill::protocol;

constexpr std::array kCommands = {
    Command::kSubmit,
    Command::kBatch,
    Command::kWait,
    Command::kGet,
    Command::kCancel,
    Command::kSubscribe,
    Command::kStats,
    Command::kDlq,
    Command::kComplete,
    Command::kLimit,
    Command::kQueue,
    Command::kWorker,
    Command::kReply,
    Command::kResult,
    Command::kEvent,
    Command::kReady,
    Command::kHeartbeat,
    Command::kDone,
    Command::kProgress,
    Command::kBye,
    Command::kTask,
    Command::kCancelTask,
    Command::kBrokerHeartbeat,
    Command::kDrain,
    Command::kGoaway,
    Command::kMove,
};

// Re-encoding may grow a body (a float32 or an integer written for a double becomes a
// float64), so the second decode lifts only the frame cap; every other limit holds,
// since re-encoding never adds elements, depth or string bytes.
DecodeLimits RoundTripLimits() {
  DecodeLimits limits;
  limits.max_frame_bytes = std::numeric_limits<size_t>::max();
  return limits;
}

// Small limits, so short inputs reach the over-limit paths too.
DecodeLimits TightLimits() {
  DecodeLimits limits;
  limits.max_frame_bytes = 512;
  limits.max_array = 4;
  limits.max_map = 6;
  limits.max_str = 24;
  limits.max_bin = 16;
  limits.max_depth = 3;
  limits.max_elements = 24;
  return limits;
}

void CheckRoundTrip(const Message& message) {
  std::string body = EncodeBody(message);
  auto again = DecodeBody(CommandOf(message), body, RoundTripLimits());
  if (!again || !(*again == message)) __builtin_trap();
  if (EncodeBody(*again) != body) __builtin_trap();

  Frames frames = Encode(message);
  std::array<std::string_view, 3> views = {frames.version, frames.command, frames.body};
  auto whole = Decode(views, RoundTripLimits());
  if (!whole || !(*whole == message)) __builtin_trap();
}

void CheckTaskSpecRoundTrip(const TaskSpec& spec) {
  std::string bytes = EncodeTaskSpec(spec);
  auto again = DecodeTaskSpec(bytes, RoundTripLimits());
  if (!again || !(*again == spec)) __builtin_trap();
  if (EncodeTaskSpec(*again) != bytes) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  // As a message: version, command, body.
  std::array<std::string_view, 3> frames = {input.substr(0, 3),
                                            input.substr(std::min<size_t>(size, 3), 1),
                                            input.substr(std::min<size_t>(size, 4))};
  if (auto m = Decode(frames)) CheckRoundTrip(*m);
  // Wrong frame counts must be refused, never read.
  if (Decode(std::span(frames).first(2))) __builtin_trap();

  // As a body of every command, with the default and with tight limits.
  for (Command c : kCommands) {
    if (auto m = DecodeBody(c, input)) CheckRoundTrip(*m);
    if (auto m = DecodeBody(c, input, TightLimits())) CheckRoundTrip(*m);
  }

  // As a TaskSpec the store keeps.
  if (auto spec = DecodeTaskSpec(input)) CheckTaskSpecRoundTrip(*spec);
  return 0;
}
