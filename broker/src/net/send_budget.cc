#include "net/send_budget.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>

#include "taskmill/shared/log.h"

namespace taskmill::broker {

bool SendBudget::Draining(int fd) {
  pollfd p{fd, POLLOUT, 0};
  // Only asks: the descriptor stays libzmq's, and nothing is read or written.
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLOUT) != 0 &&
         (p.revents & (POLLERR | POLLHUP | POLLNVAL)) == 0;
}

bool SendBudget::Admit(const std::string& identity, uint64_t bytes) {
  Peer& peer = queued_[identity];
  uint64_t& held = peer.bytes;
  bool over_peer = limits_.per_peer_bytes != 0 && held + bytes > limits_.per_peer_bytes;
  bool over_total = limits_.total_bytes != 0 && total_ + bytes > limits_.total_bytes;
  if (over_peer || over_total) {
    int fd = fd_of_ ? fd_of_(identity) : -1;
    if (fd >= 0 && !Draining(fd)) {
      ++refused_;
      // The peer has not read what the kernel holds for it, and libzmq holds up to `held`
      // more: cutting the connection frees that (the DISCONNECTED event then drops what
      // the peer held here, through PeerWatch).
      if (peer.cut) return false;
      peer.cut = true;
      ::shutdown(fd, SHUT_RDWR);
      ++peers_cut_;
      Logger("broker.net")
          ->debug("a client does not read its replies ({} bytes queued, {} in all): message "
                  "dropped, connection cut",
                  held, total_);
      return false;
    }
    // Reading (or unknown): what was counted has left libzmq for the kernel.
    total_ -= held;
    held = 0;
  }
  held += bytes;
  total_ += bytes;
  return true;
}

void SendBudget::Sweep() {
  for (auto& [identity, peer] : queued_) {
    if (peer.bytes < kSweepBytes || peer.cut) continue;
    int fd = fd_of_ ? fd_of_(identity) : -1;
    if (fd >= 0 && Draining(fd)) {
      total_ -= peer.bytes;
      peer.bytes = 0;
    }
  }
}

void SendBudget::Refund(const std::string& identity, uint64_t bytes) {
  auto it = queued_.find(identity);
  if (it == queued_.end()) return;
  uint64_t n = std::min(bytes, it->second.bytes);
  it->second.bytes -= n;
  total_ -= n;
  // A send to a peer that is gone leaves no entry behind (Forget has been and gone).
  if (it->second.bytes == 0 && !it->second.cut) queued_.erase(it);
}

void SendBudget::Forget(const std::string& identity) {
  auto it = queued_.find(identity);
  if (it == queued_.end()) return;
  total_ -= it->second.bytes;
  queued_.erase(it);
}

}  // namespace taskmill::broker
