#include "pool_channel.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
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

std::array<char, kPoolFrameHeader> EncodePoolFrameHeader(PoolFrame kind, size_t payload_size) {
  std::array<char, kPoolFrameHeader> header;
  auto n = static_cast<uint32_t>(payload_size);
  for (int i = 0; i < 4; ++i) header[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  header[4] = static_cast<char>(kind);
  return header;
}

std::string EncodePoolFrame(PoolFrame kind, std::string_view payload) {
  auto header = EncodePoolFrameHeader(kind, payload.size());
  std::string out(header.data(), header.size());
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

bool WritePoolFrameWithin(int fd, PoolFrame kind, std::string_view payload, int timeout_ms) {
  // Header and payload go out together from where they are (sendmsg with two iovecs): a
  // TASK or a DONE of many MiB is never copied just to put five bytes in front of it.
  auto header = EncodePoolFrameHeader(kind, payload.size());
  iovec iov[2] = {{header.data(), header.size()},
                  {const_cast<char*>(payload.data()), payload.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = payload.empty() ? 1 : 2;
  const int flags = timeout_ms < 0 ? MSG_NOSIGNAL : MSG_NOSIGNAL | MSG_DONTWAIT;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (msg.msg_iovlen > 0) {
    ssize_t put = sendmsg(fd, &msg, flags);
    if (put > 0) {
      auto n = static_cast<size_t>(put);
      while (msg.msg_iovlen > 0 && n >= msg.msg_iov->iov_len) {
        n -= msg.msg_iov->iov_len;
        ++msg.msg_iov;
        --msg.msg_iovlen;
      }
      if (msg.msg_iovlen > 0) {
        msg.msg_iov->iov_base = static_cast<char*>(msg.msg_iov->iov_base) + n;
        msg.msg_iov->iov_len -= n;
      }
      continue;
    }
    if (put < 0 && errno == EINTR) continue;
    if (timeout_ms < 0 || put == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return false;
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
  return WritePoolFrameWithin(fd, kind, payload, -1);
}

}  // namespace taskmill::worker
