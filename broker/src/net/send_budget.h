#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

namespace taskmill::broker {

// Bytes the broker may hand ZeroMQ for one peer, and for all peers, before it asks the
// kernel whether that peer reads them.
struct SendBudgetLimits {
  uint64_t per_peer_bytes = 64u << 20;  // 0: no cap (only the send high-water mark, in messages)
  uint64_t total_bytes = 512u << 20;    // across every peer; 0: no cap
};

// Bounds the bytes queued in this process for ROUTER peers that do not read them. libzmq
// counts its per-peer send high-water mark in messages and exposes no byte count, so a
// client that asks for large replies and never reads them used to grow the broker without
// bound (issue 13: 357 MB). SendBudget counts the bytes handed to ZeroMQ for each peer
// since that peer was last seen draining. Past the peer's cap, or past the total, it asks
// the kernel about the peer's connection (its descriptor comes from PeerWatch): a socket
// with room to write means libzmq's I/O thread has flushed what it held into it, so the
// count starts again; a full one means the peer does not read: the message is refused
// (the caller drops it, and ClientService drops what the peer holds), and the connection
// is shut down so libzmq frees what it queued for it. Memory held for unread replies is
// so at most ~per_peer_bytes (plus the kernel's socket buffers) per peer, total_bytes in
// all. Works the same for tcp:// and ipc://; without a descriptor (no monitor) it cannot
// tell a slow reader from a stuck one and only counts.
// Thread: the reactor thread. Owner: the Broker (RouterSocket refers to it).
class SendBudget {
 public:
  // The peer's live descriptor, or -1 when unknown or gone (PeerWatch::LiveFd).
  using FdOf = std::function<int(const std::string& identity)>;
  SendBudget(SendBudgetLimits limits, FdOf fd_of) : limits_(limits), fd_of_(std::move(fd_of)) {}

  // May `bytes` more be queued for `identity`? True: counted (Refund if the send fails).
  // False: over its budget and the peer is not reading; its connection has been cut.
  bool Admit(const std::string& identity, uint64_t bytes);
  void Refund(const std::string& identity, uint64_t bytes);
  // The peer went away: what was queued for it is freed with its connection.
  void Forget(const std::string& identity);
  // Peers holding at least kSweepBytes whose socket has room start a fresh count (called
  // every second), so counts of clients that read do not add up towards the total.
  void Sweep();
  static constexpr uint64_t kSweepBytes = 1u << 20;

  // True if the kernel would take more bytes on `fd` now (the peer reads, or libzmq has
  // not filled the socket yet).
  static bool Draining(int fd);

  uint64_t queued_bytes() const { return total_; }
  uint64_t refused() const { return refused_; }
  uint64_t peers_cut() const { return peers_cut_; }
  size_t tracked() const { return queued_.size(); }
  const SendBudgetLimits& limits() const { return limits_; }

 private:
  SendBudgetLimits limits_;
  FdOf fd_of_;
  struct Peer {
    uint64_t bytes = 0;  // queued since the peer was last seen draining
    bool cut = false;    // true iff its connection has been shut down
  };
  std::unordered_map<std::string, Peer> queued_;  // identity -> what it was sent
  uint64_t total_ = 0;                                // sum of queued_
  uint64_t refused_ = 0;                              // messages refused
  uint64_t peers_cut_ = 0;                            // connections shut down
};

}  // namespace taskmill::broker
