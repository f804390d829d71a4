// The network-cut scenario is only as good as its proxy: it must forward, stop forwarding
// in both directions on Cut() while the sockets stay open, deliver what was held on
// Heal(), and reset connections in kReset mode.

#include "chaos/tcp_proxy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace taskmill::chaos {
namespace {

// A connected pair of loopback sockets through the proxy: `client` -> proxy -> `server`.
struct Through {
  int listener = -1, client = -1, server = -1;
  std::unique_ptr<TcpProxy> proxy;
  Through() {
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(listener, 4), 0);
    getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
    auto p = TcpProxy::Start(ntohs(a.sin_port));
    EXPECT_TRUE(p.has_value());
    proxy = std::move(*p);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(proxy->port());
    client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(connect(client, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
    pollfd pf{listener, POLLIN, 0};
    EXPECT_EQ(poll(&pf, 1, 5000), 1);
    server = accept(listener, nullptr, nullptr);
  }
  ~Through() {
    proxy.reset();
    for (int fd : {listener, client, server}) {
      if (fd >= 0) close(fd);
    }
  }
};

// Reads up to n bytes from fd within timeout_ms; what arrived ("" on timeout, "<eof>" or
// "<reset>" when the peer is gone).
std::string ReadSome(int fd, size_t n, int timeout_ms) {
  std::string out;
  pollfd pf{fd, POLLIN, 0};
  while (out.size() < n && poll(&pf, 1, timeout_ms) == 1) {
    char buf[256];
    ssize_t got = recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
    if (got == 0) return out + "<eof>";
    if (got < 0) return out + (errno == ECONNRESET ? "<reset>" : "<error>");
    out.append(buf, static_cast<size_t>(got));
  }
  return out;
}

TEST(TcpProxyTest, ForwardsBothWays) {
  Through t;
  ASSERT_EQ(send(t.client, "ping", 4, 0), 4);
  EXPECT_EQ(ReadSome(t.server, 4, 5000), "ping");
  ASSERT_EQ(send(t.server, "pong", 4, 0), 4);
  EXPECT_EQ(ReadSome(t.client, 4, 5000), "pong");
  EXPECT_EQ(t.proxy->forwarded_bytes(), 8u);
}

TEST(TcpProxyTest, BlackHoleHoldsBytesUntilHealed) {
  Through t;
  ASSERT_EQ(send(t.client, "a", 1, 0), 1);
  ASSERT_EQ(ReadSome(t.server, 1, 5000), "a");
  t.proxy->Cut();
  ASSERT_EQ(send(t.client, "up", 2, 0), 2);
  ASSERT_EQ(send(t.server, "down", 4, 0), 4);
  // Nothing crosses, and neither side sees the connection end. (A bounded wait for
  // something that must not happen; 300 ms is far above a loopback hop.)
  EXPECT_EQ(ReadSome(t.server, 2, 300), "");
  EXPECT_EQ(ReadSome(t.client, 4, 300), "");
  t.proxy->Heal();
  EXPECT_EQ(ReadSome(t.server, 2, 5000), "up");
  EXPECT_EQ(ReadSome(t.client, 4, 5000), "down");
}

// What a client sent just before it closed, behind a cut, still arrives after the heal
// (a worker's last DONEs on a link it gave up on), and then the close.
TEST(TcpProxyTest, BytesSentBeforeACloseBehindTheCutArriveAfterTheHeal) {
  Through t;
  t.proxy->Cut();
  ASSERT_EQ(send(t.client, "last", 4, 0), 4);
  close(t.client);
  t.client = -1;
  t.proxy->Heal();
  EXPECT_EQ(ReadSome(t.server, 5, 5000), "last<eof>");
}

TEST(TcpProxyTest, ResetModeDropsConnections) {
  Through t;
  t.proxy->Cut(TcpProxy::CutMode::kReset);
  std::string got = ReadSome(t.client, 1, 5000);
  EXPECT_TRUE(got == "<reset>" || got == "<eof>") << got;
}

}  // namespace
}  // namespace taskmill::chaos
