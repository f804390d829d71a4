#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace taskmill {

// Every failure the project reports, on the wire and in APIs. The wire form is the
// snake_case name (ErrorCodeName), so adding a code never renumbers an old one.
enum class ErrorCode : uint8_t {
  kInvalidArgument,    // a value the caller gave is out of range or malformed
  kBadFrame,           // wrong number of frames, or a frame over the size cap
  kUnknownVersion,     // version frame is not "TM1"
  kUnknownCommand,     // command byte not in the protocol
  kTruncated,          // msgpack body ends in the middle of a value
  kWrongType,          // a field has the wrong msgpack type
  kMissingField,       // a required field is absent
  kOverLimit,          // a declared size or depth is over the decoder's limits
  kNotFound,           // no such task, batch or queue
  kStoreUnavailable,   // Redis is unreachable; nothing was acknowledged
  kTimeout,            // a deadline passed
  kBrokerUnavailable,  // the client could not reach a broker
  kStaleToken,         // a result from an attempt that no longer holds the lease
  kQueueFull,          // the queue is at its configured depth cap
  kCycle,              // a batch's dependencies form a cycle
  kConflict,           // the request conflicts with current state (e.g. cancel a finished task)
  kUnauthorized,       // authentication refused
  kStoreFull,          // Redis is out of memory (maxmemory); nothing was stored, retry later
  kForbidden,          // authenticated, but this key's role may not do that (names the role)
  kInternal,           // a bug or an unexpected store reply
};

std::string_view ErrorCodeName(ErrorCode code);
// Parses a wire name; unknown names map to kInternal so a newer peer's code still shows.
ErrorCode ErrorCodeFromName(std::string_view name);

// An error as a value: a code for programs and a message for people.
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  friend bool operator==(const Error&, const Error&) = default;
  std::string ToString() const;  // "code: message"
};

template <typename T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> MakeError(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}

}  // namespace taskmill
