// The shared vectors are the contract for every client library: the C++ codec must
// reproduce each file byte for byte and decode it back to the same message.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sample_messages.h"
#include "taskmill/shared/protocol/codec.h"
#include "vector_file.h"
#include "test_paths.h"  // TASKMILL_SOURCE_DIR, TASKMILL_BUILD_DIR

namespace taskmill::protocol::testing {
namespace {

std::filesystem::path VectorDir() {
  return std::filesystem::path(TASKMILL_SOURCE_DIR) / "shared/protocol/vectors";
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(VectorsTest, EveryCommandHasAVector) {
  std::set<Command> seen;
  for (const auto& s : SampleMessages()) seen.insert(CommandOf(s.message));
  EXPECT_EQ(seen.size(), std::variant_size_v<Message>);
}

TEST(VectorsTest, CodecReproducesEveryVectorFile) {
  auto samples = SampleMessages();
  ASSERT_FALSE(samples.empty());
  for (const auto& sample : samples) {
    SCOPED_TRACE(sample.name);
    auto path = VectorDir() / (sample.name + ".json");
    ASSERT_TRUE(std::filesystem::exists(path))
        << path << " is missing; regenerate with taskmill-make-vectors shared/protocol/vectors";
    std::string file = ReadFile(path);
    EXPECT_EQ(file, VectorJson(sample))
        << "the codec no longer produces " << path
        << "; if the protocol change is intended, regenerate the vectors and say so in the commit";
  }
}

TEST(VectorsTest, EveryVectorFileDecodesToItsMessage) {
  size_t files = 0;
  for (const auto& sample : SampleMessages()) {
    SCOPED_TRACE(sample.name);
    auto frames = FramesFromVectorJson(ReadFile(VectorDir() / (sample.name + ".json")));
    ASSERT_EQ(frames.size(), 3u);
    std::vector<std::string_view> views(frames.begin(), frames.end());
    auto decoded = Decode(views);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
    EXPECT_TRUE(*decoded == sample.message);
    ++files;
  }
  size_t on_disk = 0;
  for (const auto& e : std::filesystem::directory_iterator(VectorDir())) {
    if (e.path().extension() == ".json") ++on_disk;
  }
  EXPECT_EQ(files, on_disk) << "a vector file has no sample (stale file?)";
}

// One code for a handler's exception in every language: the C++ worker reports
// kHandlerExceptionCode, the Python and Node worker tests compare theirs with this file.
TEST(VectorsTest, HandlerExceptionHasOneCode) {
  auto frames = FramesFromVectorJson(ReadFile(VectorDir() / "done_handler_exception.json"));
  ASSERT_EQ(frames.size(), 3u);
  std::vector<std::string_view> views(frames.begin(), frames.end());
  auto decoded = Decode(views);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  const auto* done = std::get_if<Done>(&*decoded);
  ASSERT_NE(done, nullptr);
  ASSERT_TRUE(done->error);
  EXPECT_EQ(done->error->code, kHandlerExceptionCode);
  EXPECT_EQ(done->error->code, "handler_exception");
  EXPECT_TRUE(done->error->retryable);
}

}  // namespace
}  // namespace taskmill::protocol::testing
