#pragma once

// The framed channel between the worker and one of its pool processes (--processes): a
// SOCK_STREAM socketpair carrying [u32 little-endian payload length][u8 kind][payload].
// Payloads are protocol bodies (protocol::EncodeBody), so the worker decodes a child's
// frames with the same limits as the broker's. A pool process is untrusted-ish: a frame
// over the cap, of an unknown kind or that does not decode gets the child killed, never
// the worker (docs/reliability.md, "Process pool").

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "taskmill/shared/error.h"

namespace taskmill::worker {

// What a frame carries.
enum class PoolFrame : uint8_t {
  kReady = 'R',     // child -> worker: started and waiting for tasks (empty payload)
  kTask = 'T',      // worker -> child: run this attempt (TaskMsg body)
  kCancel = 'C',    // worker -> child: stop the current attempt (1 byte: CancelReason)
  kProgress = 'P',  // child -> worker: PROGRESS body
  kDone = 'D',      // child -> worker: DONE body (the attempt's result)
};

inline constexpr size_t kPoolFrameHeader = 5;

// The five header bytes of a frame carrying `payload_size` bytes.
std::array<char, kPoolFrameHeader> EncodePoolFrameHeader(PoolFrame kind, size_t payload_size);
// One frame, header and payload, as one string (tests build byte streams with it).
std::string EncodePoolFrame(PoolFrame kind, std::string_view payload);

// Reassembles frames from the bytes read off a non-blocking socket.
// Lifecycle: one per pool process, owned by the executor thread that talks to it.
class PoolFrameReader {
 public:
  struct Frame {
    PoolFrame kind;
    std::string payload;
  };
  explicit PoolFrameReader(uint64_t max_payload) : max_payload_(max_payload) {}
  // Reads what is available on `fd` (non-blocking). Ok(false): the peer closed or the read
  // failed (the child is gone); Ok(true): bytes were read or none were ready.
  bool Fill(int fd);
  // The next whole frame, nullopt if none is complete yet, or an error for a frame over the
  // cap or of an unknown kind (the caller kills the child).
  Result<std::optional<Frame>> Next();
  void Reset() { buf_.clear(); }

 private:
  const uint64_t max_payload_;  // largest payload accepted
  std::string buf_;             // bytes read, not yet returned as frames
};

// Writes one frame to a non-blocking fd within `timeout_ms`; false on error or timeout (a
// child that stopped reading: the caller kills it). timeout_ms < 0: `fd` is blocking and
// the write waits as long as it takes (WritePoolFrame).
bool WritePoolFrameWithin(int fd, PoolFrame kind, std::string_view payload, int timeout_ms);

// Blocking I/O for the child's side (its parent is trusted). ReadPoolFrame: nullopt at
// EOF or on a malformed frame (the child then exits).
std::optional<PoolFrameReader::Frame> ReadPoolFrame(int fd, uint64_t max_payload);
bool WritePoolFrame(int fd, PoolFrame kind, std::string_view payload);

}  // namespace taskmill::worker
