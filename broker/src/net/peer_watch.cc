#include "net/peer_watch.h"

#include <sys/stat.h>

#include <cstring>
#include <utility>

#include "taskmill/shared/log.h"

namespace taskmill::broker {

PeerWatch::PeerWatch(zmq::context_t& ctx, RouterSocket& socket, const std::string& name)
    : monitor_(ctx, zmq::socket_type::pair) {
  std::string endpoint = "inproc://taskmill-peers-" + name;
  if (zmq_socket_monitor(socket.handle(), endpoint.c_str(),
                         ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0) {
    Logger("broker.net")->warn("cannot monitor the {} socket: {}", name, zmq_strerror(zmq_errno()));
    return;
  }
  try {
    monitor_.set(zmq::sockopt::linger, 0);
    monitor_.connect(endpoint);
    enabled_ = true;
  } catch (const zmq::error_t& e) {
    Logger("broker.net")->warn("cannot connect the {} monitor: {}", name, e.what());
  }
}

PeerWatch::~PeerWatch() = default;

void PeerWatch::Drain() {
  if (!enabled_) return;
  try {
    while (true) {
      zmq::message_t head;
      if (!monitor_.recv(head, zmq::recv_flags::dontwait)) return;
      // Two frames: {uint16 event, uint32 value (the fd)}, then the endpoint.
      bool more = monitor_.get(zmq::sockopt::rcvmore);
      while (more) {
        zmq::message_t rest;
        if (!monitor_.recv(rest, zmq::recv_flags::none)) break;
        more = monitor_.get(zmq::sockopt::rcvmore);
      }
      if (head.size() < 6) continue;
      uint16_t event;
      uint32_t value;
      std::memcpy(&event, head.data(), 2);
      std::memcpy(&value, static_cast<const char*>(head.data()) + 2, 4);
      int fd = static_cast<int>(value);
      if (event == ZMQ_EVENT_ACCEPTED) {
        ++generation_[fd];
      } else if (event == ZMQ_EVENT_DISCONNECTED) {
        auto it = by_fd_.find(fd);
        if (it == by_fd_.end()) continue;
        uint64_t gen = generation_[fd];
        for (const auto& identity : it->second) {
          auto p = peers_.find(identity);
          if (p != peers_.end() && p->second.generation == gen) {
            gone_.push_back(identity);
            RememberLeft(identity);
            peers_.erase(p);
          }
        }
        by_fd_.erase(it);
      }
    }
  } catch (const zmq::error_t& e) {
    Logger("broker.net")->debug("monitor read failed: {}", e.what());
  }
}

void PeerWatch::Seen(const std::string& identity, int fd) {
  if (!enabled_ || fd < 0) return;
  auto it = peers_.find(identity);
  if (it != peers_.end() && it->second.fd == fd) return;
  // First message of this peer (or on a new descriptor): its connection's ACCEPTED event
  // was emitted before the message arrived, so after the drain generation_ names it.
  Drain();
  if (it != peers_.end()) {
    auto old = by_fd_.find(it->second.fd);
    if (old != by_fd_.end()) old->second.erase(identity);
  }
  struct stat st{};
  uint64_t inode = ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;
  peers_[identity] = Peer{fd, generation_[fd], inode};
  left_.erase(identity);  // back on a new connection (its entry in left_order_ ages out)
  by_fd_[fd].insert(identity);
}

bool PeerWatch::Connected(const std::string& identity) {
  Drain();
  return !left_.contains(identity);
}

int PeerWatch::LiveFd(const std::string& identity) {
  Drain();
  auto it = peers_.find(identity);
  if (it == peers_.end() || it->second.inode == 0) return -1;
  struct stat st{};
  if (::fstat(it->second.fd, &st) != 0 || static_cast<uint64_t>(st.st_ino) != it->second.inode) {
    return -1;
  }
  return it->second.fd;
}

void PeerWatch::RememberLeft(const std::string& identity) {
  if (!left_.insert(identity).second) return;
  left_order_.push_back(identity);
  while (left_order_.size() > kRememberLeft) {
    left_.erase(left_order_.front());
    left_order_.pop_front();
  }
}

std::vector<std::string> PeerWatch::TakeGone() {
  Drain();
  return std::exchange(gone_, {});
}

}  // namespace taskmill::broker
