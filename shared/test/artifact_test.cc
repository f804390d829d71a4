// Artifact names and lists (validate.h) and the SHA-256 they are checked with.

#include <gtest/gtest.h>

#include "taskmill/shared/protocol/validate.h"
#include "taskmill/shared/sha256.h"

namespace taskmill::protocol {
namespace {

TEST(Sha256Test, MatchesTheFipsVectors) {
  EXPECT_EQ(Sha256::Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256::Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256::Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // A million 'a's, fed in uneven pieces: the buffering across Update calls.
  Sha256 h;
  std::string chunk(997, 'a');
  size_t left = 1'000'000;
  while (left > 0) {
    size_t n = std::min(left, chunk.size());
    h.Update(std::string_view(chunk).substr(0, n));
    left -= n;
  }
  EXPECT_EQ(h.HexDigest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(ArtifactTest, NamesCannotLeaveTheirDirectory) {
  for (const char* ok : {"a", "out.txt", "report/summary.txt", "a/b/c-d_e.f", "..a", "a.."}) {
    EXPECT_TRUE(ValidateArtifactName(ok)) << ok;
  }
  for (const char* bad : {"", "../x", "a/../../x", "..", ".", "/etc/passwd", "a//b", "a/",
                          "a/./b", "a\\b", "sp ace", "nul\x01"}) {
    EXPECT_FALSE(ValidateArtifactName(bad)) << bad;
  }
  EXPECT_FALSE(ValidateArtifactName(std::string(256, 'a')));
  auto err = ValidateArtifactName("../escape");
  ASSERT_FALSE(err);
  EXPECT_NE(err.error().message.find("'..' component"), std::string::npos) << err.error().message;
}

TEST(ArtifactTest, ListsAreChecked) {
  std::string sha = Sha256::Hex("hi");
  Artifact inline_ok{"a.txt", 2, sha, "", "hi"};
  Artifact kept_ok{"b.txt", 9, sha, "file:///data/t/b.txt", ""};
  EXPECT_TRUE(ValidateArtifacts({inline_ok, kept_ok}, "artifacts"));
  auto twice = ValidateArtifacts({inline_ok, inline_ok}, "artifacts");
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().message, "artifacts: two artifacts have the same name");
  Artifact bad = inline_ok;
  bad.size = 3;  // not its data's size
  EXPECT_FALSE(ValidateArtifacts({bad}, "artifacts"));
  bad = kept_ok;
  bad.uri = "http://evil/x";
  EXPECT_FALSE(ValidateArtifacts({bad}, "artifacts"));
  bad = kept_ok;
  bad.sha256 = "XYZ";
  EXPECT_FALSE(ValidateArtifacts({bad}, "artifacts"));
  bad = kept_ok;
  bad.name = "../../etc/cron.d/x";
  EXPECT_FALSE(ValidateArtifacts({bad}, "artifacts"));
  std::vector<Artifact> many(kMaxArtifacts + 1, inline_ok);
  for (size_t i = 0; i < many.size(); ++i) many[i].name = "f" + std::to_string(i);
  EXPECT_FALSE(ValidateArtifacts(many, "artifacts"));
}

TEST(ArtifactTest, ACompletionTokenIs32LowercaseHexDigits) {
  EXPECT_TRUE(ValidateCompletionToken(std::string(32, 'a'), "token"));
  auto upper = ValidateCompletionToken(std::string(32, 'A'), "token");
  ASSERT_FALSE(upper);
  EXPECT_EQ(upper.error().message,
            "token: a completion token is 32 lowercase hex digits, got 32 bytes that are not");
  EXPECT_FALSE(ValidateCompletionToken(std::string(31, 'a'), "token"));
}

}  // namespace
}  // namespace taskmill::protocol
