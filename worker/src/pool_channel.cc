#include "pool_channel.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace taskmill::worker {
namespace {

bool KnownKind(uint8_t k) {
  switch (static_cast<PoolFrame>(k)) {
    case PoolFrame::kReady:
    case PoolFrame::kTask:
    case PoolFrame::kCancel:
    case PoolFrame::kProgress:
    case PoolFrame::kDone:
      return true;
  }
  return false;
}

uint32_t ReadLength(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(b[0]) | static_cast<uint32_t>(b[1]) << 8 |
         static_cast<uint32_t>(b[2]) << 16 | static_cast<uint32_t>(b[3]) << 24;
}

bool ReadExactly(int fd, char* out, size_t n) {
  while (n > 0) {
    ssize_t got = read(fd, out, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    out += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

}  // namespace

std::string EncodePoolFrame(PoolFrame kind, std::string_view payload) {
  std::string out(kPoolFrameHeader, '\0');
  auto n = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out[4] = static_cast<char>(kind);
  out.append(payload);
  return out;
}

bool PoolFrameReader::Fill(int fd) {
  char chunk[64 * 1024];
  // Bounded per call so one chatty child cannot starve the caller's timers.
  for (int i = 0; i < 64; ++i) {
    ssize_t got = read(fd, chunk, sizeof chunk);
    if (got > 0) {
      buf_.append(chunk, static_cast<size_t>(got));
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;  // EOF or a read error
  }
  return true;
}

Result<std::optional<PoolFrameReader::Frame>> PoolFrameReader::Next() {
  if (buf_.size() < kPoolFrameHeader) return std::nullopt;
  uint32_t len = ReadLength(buf_.data());
  auto kind = static_cast<uint8_t>(buf_[4]);
  if (!KnownKind(kind)) {
    return MakeError(ErrorCode::kBadFrame, "unknown frame kind " + std::to_string(kind));
  }
  if (len > max_payload_) {
    return MakeError(ErrorCode::kBadFrame, "a frame of " + std::to_string(len) +
                                                " bytes, over the cap of " +
                                                std::to_string(max_payload_));
  }
  if (buf_.size() < kPoolFrameHeader + len) return std::nullopt;
  Frame f{static_cast<PoolFrame>(kind), buf_.substr(kPoolFrameHeader, len)};
  buf_.erase(0, kPoolFrameHeader + len);
  return f;
}

bool WriteAllWithin(int fd, std::string_view bytes, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!bytes.empty()) {
    ssize_t put = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (put > 0) {
      bytes.remove_prefix(static_cast<size_t>(put));
      continue;
    }
    if (put < 0 && errno == EINTR) continue;
    if (put < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return false;
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) return false;
  }
  return true;
}

std::optional<PoolFrameReader::Frame> ReadPoolFrame(int fd, uint64_t max_payload) {
  char header[kPoolFrameHeader];
  if (!ReadExactly(fd, header, sizeof header)) return std::nullopt;
  uint32_t len = ReadLength(header);
  auto kind = static_cast<uint8_t>(header[4]);
  if (!KnownKind(kind) || len > max_payload) return std::nullopt;
  PoolFrameReader::Frame f{static_cast<PoolFrame>(kind), std::string(len, '\0')};
  if (len > 0 && !ReadExactly(fd, f.payload.data(), len)) return std::nullopt;
  return f;
}

bool WritePoolFrame(int fd, PoolFrame kind, std::string_view payload) {
  std::string bytes = EncodePoolFrame(kind, payload);
  std::string_view left = bytes;
  while (!left.empty()) {
    ssize_t put = send(fd, left.data(), left.size(), MSG_NOSIGNAL);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    left.remove_prefix(static_cast<size_t>(put));
  }
  return true;
}

}  // namespace taskmill::worker
