#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>
#include <zmq.hpp>

#include "net/router_socket.h"

namespace taskmill::broker {

// Tells which ROUTER peers (by routing identity) have disconnected, so what they left in the
// broker's memory (WAITs, subscriptions) goes with them instead of living to its timeout.
// libzmq 4.3.4 as Debian ships it has no ZMQ_ROUTER_NOTIFY (a draft API, not compiled in),
// so this joins two stable facilities: zmq_socket_monitor's ACCEPTED/DISCONNECTED events,
// which carry the connection's file descriptor, and ZMQ_SRCFD of each received message,
// which names the descriptor it came in on. A descriptor reused by a new connection is told
// apart by counting its ACCEPTED events (the generation): the monitor is drained before a
// peer's descriptor is recorded, so the record carries the generation of its connection, and
// a DISCONNECTED only ends the peers recorded under the generation it closes.
// Thread: the reactor thread. Owner: the Broker; must not outlive the socket's context.
class PeerWatch {
 public:
  // Starts monitoring `socket` through inproc://taskmill-peers-<name>.
  PeerWatch(zmq::context_t& ctx, RouterSocket& socket, const std::string& name);
  ~PeerWatch();
  PeerWatch(const PeerWatch&) = delete;
  PeerWatch& operator=(const PeerWatch&) = delete;

  bool enabled() const { return enabled_; }
  // A message from `identity` arrived on descriptor `fd` (Inbound::src_fd; -1: unknown).
  void Seen(const std::string& identity, int fd);
  // Peers whose connection closed since the last call.
  std::vector<std::string> TakeGone();
  size_t tracked() const { return peers_.size(); }
  // Every peer seen whose connection is still open (empty when the monitor is off).
  std::vector<std::string> Identities() const {
    std::vector<std::string> out;
    out.reserve(peers_.size());
    for (const auto& [identity, peer] : peers_) out.push_back(identity);
    return out;
  }
  // False once `identity`'s connection has closed, until it is seen again (true for a peer
  // never seen: the monitor may be off; and for one gone past the kRememberLeft latest).
  bool Connected(const std::string& identity);
  // The descriptor of `identity`'s connection while it is open, or -1 (unknown, gone, or
  // the number now names another socket: the socket's inode recorded in Seen must match, so
  // a caller that shuts it down never cuts the connection that reused the number).
  int LiveFd(const std::string& identity);

 private:
  struct Peer {
    int fd = -1;
    uint64_t generation = 0;
    uint64_t inode = 0;  // the socket's inode when first seen on fd (0: unknown)
  };
  // Reads every pending monitor event.
  void Drain();
  void RememberLeft(const std::string& identity);
  // Identities remembered as gone (for answers that arrive after their client left).
  static constexpr size_t kRememberLeft = 100'000;

  zmq::socket_t monitor_;  // PAIR end of the monitor
  bool enabled_ = false;   // true iff the monitor was set up
  std::unordered_map<std::string, Peer> peers_;                     // identity -> connection
  std::unordered_map<int, std::unordered_set<std::string>> by_fd_;  // fd -> identities on it
  std::unordered_map<int, uint64_t> generation_;                    // fd -> ACCEPTED count
  std::vector<std::string> gone_;                                   // not yet taken
  std::unordered_set<std::string> left_;  // recently gone (bounded by kRememberLeft)
  std::deque<std::string> left_order_;    // left_ in the order they went
};

}  // namespace taskmill::broker
