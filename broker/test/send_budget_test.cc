// SendBudget: bytes queued for a peer that does not read its replies (issue 13). Real
// socketpairs stand in for a client's connection: one side never read fills up, as a
// client's socket does when it stops reading.

#include "net/send_budget.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <string>

namespace taskmill::broker {
namespace {

// A connected pair of unix stream sockets: `ours` is the broker's end.
struct Pair {
  int ours = -1;
  int theirs = -1;
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    ours = fds[0];
    theirs = fds[1];
  }
  ~Pair() {
    ::close(ours);
    ::close(theirs);
  }
  // Writes until the kernel takes no more (the peer does not read).
  void Fill() const {
    std::string chunk(64 << 10, 'x');
    for (int i = 0; i < 100000 && ::write(ours, chunk.data(), chunk.size()) > 0; ++i) {
    }
  }
  // Reads everything the peer has been sent.
  void Drain() const {
    char buf[64 << 10];
    for (int i = 0; i < 100000 && ::read(theirs, buf, sizeof buf) > 0; ++i) {
    }
  }
};

TEST(SendBudgetTest, AStuckPeerPastItsCapIsRefusedAndCutAReadingOneIsNot) {
  Pair stuck, reading;
  std::map<std::string, int> fds{{"stuck", stuck.ours}, {"reading", reading.ours}};
  SendBudget budget({1000, 1'000'000}, [&](const std::string& id) {
    auto it = fds.find(id);
    return it == fds.end() ? -1 : it->second;
  });
  stuck.Fill();
  EXPECT_FALSE(SendBudget::Draining(stuck.ours));
  EXPECT_TRUE(SendBudget::Draining(reading.ours));
  // Under the cap nothing is asked.
  EXPECT_TRUE(budget.Admit("stuck", 600));
  EXPECT_TRUE(budget.Admit("reading", 600));
  EXPECT_EQ(budget.queued_bytes(), 1200u);
  // Past it: the reading peer starts a new count, the stuck one is refused and cut.
  EXPECT_TRUE(budget.Admit("reading", 600));
  EXPECT_FALSE(budget.Admit("stuck", 600));
  EXPECT_EQ(budget.refused(), 1u);
  EXPECT_EQ(budget.peers_cut(), 1u);
  EXPECT_EQ(budget.queued_bytes(), 1200u);  // 600 each
  // The cut shows on the peer's side as the end of the stream once it reads.
  stuck.Drain();
  char c;
  EXPECT_EQ(::read(stuck.theirs, &c, 1), 0);
  // Refused again until it goes, but cut only once.
  EXPECT_FALSE(budget.Admit("stuck", 600));
  EXPECT_EQ(budget.refused(), 2u);
  EXPECT_EQ(budget.peers_cut(), 1u);
  budget.Forget("stuck");
  EXPECT_EQ(budget.queued_bytes(), 600u);
  budget.Refund("reading", 600);
  EXPECT_EQ(budget.queued_bytes(), 0u);
  EXPECT_EQ(budget.tracked(), 0u);  // nothing kept for a peer a send failed to
}

TEST(SendBudgetTest, TheTotalCapRefusesAStuckPeerUnderItsOwnCap) {
  Pair a, b;
  std::map<std::string, int> fds{{"a", a.ours}, {"b", b.ours}};
  SendBudget budget({1000, 1500}, [&](const std::string& id) { return fds.at(id); });
  a.Fill();
  b.Fill();
  EXPECT_TRUE(budget.Admit("a", 900));
  EXPECT_FALSE(budget.Admit("b", 900));  // 1,800 in all, b's socket full
  EXPECT_EQ(budget.peers_cut(), 1u);
  // Past the total, a peer whose socket has room is still served.
  Pair c;
  fds["c"] = c.ours;
  EXPECT_TRUE(budget.Admit("c", 900));  // over the total, but c's socket has room
  EXPECT_EQ(budget.queued_bytes(), 900u + 900u);
}

TEST(SendBudgetTest, SweepForgetsWhatReadingPeersWereSent) {
  Pair reading, stuck, small;
  std::map<std::string, int> fds{{"reading", reading.ours}, {"stuck", stuck.ours},
                                 {"small", small.ours}};
  SendBudget budget({64u << 20, 512u << 20}, [&](const std::string& id) { return fds.at(id); });
  stuck.Fill();
  EXPECT_TRUE(budget.Admit("reading", 2u << 20));
  EXPECT_TRUE(budget.Admit("stuck", 2u << 20));
  EXPECT_TRUE(budget.Admit("small", 100));  // under kSweepBytes: not asked about
  budget.Sweep();
  EXPECT_EQ(budget.queued_bytes(), (2u << 20) + 100);
}

TEST(SendBudgetTest, ZeroCapsAndUnknownDescriptorsOnlyCount) {
  Pair p;
  p.Fill();
  SendBudget off({0, 0}, [&](const std::string&) { return p.ours; });
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(off.Admit("x", 1 << 20));
  EXPECT_EQ(off.refused(), 0u);
  SendBudget unknown({10, 10}, [](const std::string&) { return -1; });
  EXPECT_TRUE(unknown.Admit("x", 100));
  EXPECT_TRUE(unknown.Admit("x", 100));
  EXPECT_EQ(unknown.refused(), 0u);
}

}  // namespace
}  // namespace taskmill::broker
