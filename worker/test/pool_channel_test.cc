// The framing between the worker and a pool process: a child's bytes are decoded with a
// cap and a closed set of kinds, so a bad frame is an error (and a killed child), never an
// allocation the size of whatever the child claims.

#include "pool_channel.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <thread>

namespace taskmill::worker {
namespace {

class PoolChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds_), 0);
  }
  void TearDown() override {
    close(fds_[0]);
    close(fds_[1]);
  }
  void Put(const std::string& bytes) {
    ASSERT_EQ(write(fds_[1], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  int fds_[2] = {-1, -1};
};

TEST_F(PoolChannelTest, FramesRoundTripEvenWhenSplit) {
  PoolFrameReader reader(1024);
  std::string a = EncodePoolFrame(PoolFrame::kDone, "result");
  std::string b = EncodePoolFrame(PoolFrame::kProgress, std::string(300, 'p'));
  std::string both = a + b;
  Put(both.substr(0, 3));
  ASSERT_TRUE(reader.Fill(fds_[0]));
  auto none = reader.Next();
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(*none);
  Put(both.substr(3));
  ASSERT_TRUE(reader.Fill(fds_[0]));
  auto first = reader.Next();
  ASSERT_TRUE(first && *first);
  EXPECT_EQ((*first)->kind, PoolFrame::kDone);
  EXPECT_EQ((*first)->payload, "result");
  auto second = reader.Next();
  ASSERT_TRUE(second && *second);
  EXPECT_EQ((*second)->kind, PoolFrame::kProgress);
  EXPECT_EQ((*second)->payload.size(), 300u);
}

TEST_F(PoolChannelTest, AFrameOverTheCapIsAnErrorBeforeItsBytesArrive) {
  PoolFrameReader reader(1024);
  // Declares 4 GiB - 1 and sends five bytes: refused from the header alone.
  Put(std::string("\xff\xff\xff\xff", 4) + "D");
  ASSERT_TRUE(reader.Fill(fds_[0]));
  auto next = reader.Next();
  ASSERT_FALSE(next.has_value());
  EXPECT_NE(next.error().message.find("over the cap"), std::string::npos);
}

TEST_F(PoolChannelTest, AnUnknownKindIsAnError) {
  PoolFrameReader reader(1024);
  Put(std::string("\x01\x00\x00\x00", 4) + "Zx");
  ASSERT_TRUE(reader.Fill(fds_[0]));
  EXPECT_FALSE(reader.Next().has_value());
}

TEST_F(PoolChannelTest, ABigFrameIsWrittenWholeThroughPartialWrites) {
  // 4 MiB is many socket buffers: the write is cut mid-payload over and over, and resumes.
  std::string payload(4u << 20, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 131 % 251);
  PoolFrameReader reader(payload.size());
  std::optional<PoolFrameReader::Frame> got;
  std::thread drain([&] {
    while (!got) {
      pollfd p{fds_[0], POLLIN, 0};
      if (poll(&p, 1, 10'000) <= 0 || !reader.Fill(fds_[0])) return;
      auto next = reader.Next();
      if (!next) return;
      if (*next) got = std::move(**next);
    }
  });
  EXPECT_TRUE(WritePoolFrameWithin(fds_[1], PoolFrame::kDone, payload, 10'000));
  drain.join();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->kind, PoolFrame::kDone);
  EXPECT_TRUE(got->payload == payload) << got->payload.size() << " bytes";
}

TEST_F(PoolChannelTest, FillReportsThePeerClosing) {
  PoolFrameReader reader(1024);
  close(fds_[1]);
  fds_[1] = -1;
  EXPECT_FALSE(reader.Fill(fds_[0]));
}

}  // namespace
}  // namespace taskmill::worker
