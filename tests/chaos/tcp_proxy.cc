#include "chaos/tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace taskmill::chaos {

// One proxied connection: the accepted client socket, its upstream socket, and the bytes
// read from one side and not yet written to the other.
struct TcpProxy::Pair {
  int client = -1;
  int upstream = -1;
  std::string to_upstream;    // read from client, not yet written upstream
  std::string to_client;      // read from upstream, not yet written to client
  bool client_eof = false;    // the client closed: deliver to_upstream, then finish
  bool upstream_eof = false;  // the upstream closed: deliver to_client, then finish
  ~Pair() {
    if (client >= 0) close(client);
    if (upstream >= 0) close(upstream);
  }
};

namespace {

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Closes with an RST rather than a FIN: the peer sees "connection reset".
void CloseWithReset(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

// Reads what fits into buf; false on a hard error. Sets eof when the peer closed.
bool ReadInto(int fd, std::string& buf, bool& eof, std::atomic<uint64_t>& counter) {
  char chunk[16384];
  size_t room = TcpProxy::kBufferBytes - buf.size();
  ssize_t n = read(fd, chunk, std::min(room, sizeof chunk));
  if (n > 0) {
    buf.append(chunk, static_cast<size_t>(n));
    counter += static_cast<uint64_t>(n);
    return true;
  }
  if (n == 0) eof = true;
  return n == 0 || errno == EAGAIN || errno == EINTR;
}

// Writes what the socket takes from buf; false on a hard error.
bool WriteFrom(int fd, std::string& buf) {
  ssize_t n = send(fd, buf.data(), buf.size(), MSG_NOSIGNAL);
  if (n > 0) {
    buf.erase(0, static_cast<size_t>(n));
    return true;
  }
  return n < 0 && (errno == EAGAIN || errno == EINTR);
}

}  // namespace

Result<std::unique_ptr<TcpProxy>> TcpProxy::Start(uint16_t upstream_port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return MakeError(ErrorCode::kInternal, "proxy: socket failed");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = Loopback(0);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 64) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    return MakeError(ErrorCode::kInternal, std::string("proxy: bind failed: ") + strerror(errno));
  }
  int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake < 0) {
    close(fd);
    return MakeError(ErrorCode::kInternal, "proxy: eventfd failed");
  }
  std::unique_ptr<TcpProxy> p(new TcpProxy(fd, wake, ntohs(a.sin_port), upstream_port));
  p->thread_ = std::thread([raw = p.get()] { raw->Run(); });
  return p;
}

TcpProxy::TcpProxy(int listen_fd, int wake_fd, uint16_t port, uint16_t upstream_port)
    : listen_fd_(listen_fd), wake_fd_(wake_fd), port_(port), upstream_port_(upstream_port) {}

TcpProxy::~TcpProxy() {
  Set(State::kStopping);
  if (thread_.joinable()) thread_.join();
  pairs_.clear();
  close(listen_fd_);
  close(wake_fd_);
}

void TcpProxy::Cut(CutMode mode) {
  Set(mode == CutMode::kBlackHole ? State::kBlackHole : State::kReset);
}

void TcpProxy::Heal() { Set(State::kForwarding); }

void TcpProxy::Set(State state) {
  std::unique_lock lock(mu_);
  wanted_ = state;
  uint64_t seq = ++wanted_seq_;
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
  // The thread acknowledges within one poll turn; bounded in case it already exited.
  applied_cv_.wait_for(lock, std::chrono::seconds(5), [&] { return applied_seq_ >= seq; });
}

void TcpProxy::Accept(State state) {
  for (int i = 0; i < 16; ++i) {
    int c = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) return;
    ++accepted_;
    if (state == State::kReset || pairs_.size() >= kMaxConnections) {
      CloseWithReset(c);
      continue;
    }
    // Loopback connects complete (or fail) at once; blocking keeps this simple.
    int u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = Loopback(upstream_port_);
    if (u < 0 || connect(u, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      if (u >= 0) close(u);
      CloseWithReset(c);
      continue;
    }
    SetNonBlocking(u);
    int one = 1;
    setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto p = std::make_unique<Pair>();
    p->client = c;
    p->upstream = u;
    pairs_.push_back(std::move(p));
  }
}

bool TcpProxy::Pump(Pair& p, short cr, short ur) {
  if ((cr & (POLLIN | POLLHUP)) && !p.client_eof &&
      !ReadInto(p.client, p.to_upstream, p.client_eof, forwarded_)) {
    return false;
  }
  if ((ur & (POLLIN | POLLHUP)) && !p.upstream_eof &&
      !ReadInto(p.upstream, p.to_client, p.upstream_eof, forwarded_)) {
    return false;
  }
  // Write at once rather than wait for POLLOUT, so bytes read just before an EOF still go.
  // Upstream first: a worker's last DONEs reach the broker even if the worker is gone.
  if (!p.to_upstream.empty() && !WriteFrom(p.upstream, p.to_upstream)) return false;
  if (!p.to_client.empty() && !WriteFrom(p.client, p.to_client)) return false;
  if ((cr & (POLLERR | POLLNVAL)) || (ur & (POLLERR | POLLNVAL))) return false;
  // One side closed: the pair ends once what it sent has been delivered (ZMTP never
  // half-closes, so the other direction does not matter).
  if (p.client_eof && p.to_upstream.empty()) return false;
  if (p.upstream_eof && p.to_client.empty()) return false;
  return true;
}

void TcpProxy::Run() {
  State state = State::kForwarding;
  std::vector<pollfd> fds;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (applied_seq_ != wanted_seq_) {
        state = wanted_;
        if (state == State::kReset) {
          for (auto& p : pairs_) {
            CloseWithReset(p->client);
            CloseWithReset(p->upstream);
            p->client = p->upstream = -1;
          }
          pairs_.clear();
        }
        applied_seq_ = wanted_seq_;
        applied_cv_.notify_all();
      }
    }
    if (state == State::kStopping) return;

    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    // During a black-hole cut the pairs are not polled at all: their bytes stay where they
    // are (our buffers, the kernel's), exactly as if the path between them were gone.
    if (state == State::kForwarding) {
      for (auto& p : pairs_) {
        short c = 0, u = 0;
        if (p->to_upstream.size() < kBufferBytes && !p->client_eof) c |= POLLIN;
        if (p->to_client.size() < kBufferBytes && !p->upstream_eof) u |= POLLIN;
        if (!p->to_client.empty()) c |= POLLOUT;
        if (!p->to_upstream.empty()) u |= POLLOUT;
        fds.push_back({p->client, c, 0});
        fds.push_back({p->upstream, u, 0});
      }
    }
    if (poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) return;
    if (fds[0].revents & POLLIN) {
      uint64_t drained;
      (void)!read(wake_fd_, &drained, sizeof drained);
      continue;  // apply the new state before moving another byte
    }
    if (state == State::kForwarding) {
      size_t kept = 0;
      for (size_t i = 0; i < pairs_.size(); ++i) {
        if (!Pump(*pairs_[i], fds[2 + 2 * i].revents, fds[3 + 2 * i].revents)) continue;
        if (kept != i) pairs_[kept] = std::move(pairs_[i]);
        ++kept;
      }
      pairs_.resize(kept);
    }
    if (fds[1].revents & POLLIN) Accept(state);
  }
}

}  // namespace taskmill::chaos
