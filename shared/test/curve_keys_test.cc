// Key files: generate -> write -> read back, file modes, refusal to overwrite, and the
// parser's rejections (each with a message naming the file and what is wrong).

#include "taskmill/shared/curve_keys.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <zmq.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace taskmill {
namespace {

namespace fs = std::filesystem;

class CurveKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "taskmill-keys-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static unsigned Mode(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 0777;
  }
  static CurveKeyPair Keys() {
    auto k = GenerateCurveKeyPair();
    EXPECT_TRUE(k.has_value());
    return *k;
  }

  std::string dir_;
};

TEST_F(CurveKeysTest, GeneratedPairRoundTripsThroughBothFiles) {
  CurveKeyPair keys = Keys();
  EXPECT_EQ(keys.public_key.size(), 40u);
  EXPECT_EQ(keys.secret_key.size(), 40u);
  EXPECT_TRUE(ValidateZ85Key(keys.public_key));
  auto files = WriteCurveKeyFiles(dir_, "broker", keys, false);
  ASSERT_TRUE(files.has_value()) << files.error().message;
  EXPECT_EQ(files->key_file, dir_ + "/broker.key");
  EXPECT_EQ(files->pub_file, dir_ + "/broker.pub");
  EXPECT_EQ(Mode(files->key_file), 0600u);
  EXPECT_EQ(Mode(files->pub_file), 0644u);

  std::string key_text = Read(files->key_file);
  std::string pub_text = Read(files->pub_file);
  EXPECT_NE(key_text.find("#   ZeroMQ CURVE **Secret** Certificate\n"), std::string::npos);
  EXPECT_NE(key_text.find("#   written by taskmill keygen\n"), std::string::npos);
  EXPECT_NE(key_text.find("metadata\ncurve\n    public-key = \"" + keys.public_key + "\"\n" +
                          "    secret-key = \"" + keys.secret_key + "\"\n"),
            std::string::npos)
      << key_text;
  EXPECT_NE(pub_text.find("#   ZeroMQ CURVE Public Certificate\n"), std::string::npos);
  EXPECT_NE(pub_text.find("    public-key = \"" + keys.public_key + "\"\n"), std::string::npos);
  EXPECT_EQ(pub_text.find("secret-key"), std::string::npos) << "the .pub holds the secret";
  EXPECT_EQ(pub_text.find(keys.secret_key), std::string::npos);

  auto loaded = LoadCurveKeyFile(files->key_file);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
  EXPECT_EQ(loaded->public_key, keys.public_key);
  EXPECT_EQ(loaded->secret_key, keys.secret_key);
  auto pub = LoadCurvePublicKey(files->pub_file);
  ASSERT_TRUE(pub.has_value()) << pub.error().message;
  EXPECT_EQ(*pub, keys.public_key);
  // A .key file also gives its public half; a literal Z85 key is taken as is.
  EXPECT_EQ(LoadCurvePublicKey(files->key_file).value_or(""), keys.public_key);
  EXPECT_EQ(LoadCurvePublicKey(keys.public_key).value_or(""), keys.public_key);
}

TEST_F(CurveKeysTest, RefusesToOverwriteUnlessAskedAndKeepsTheKeyPrivate) {
  CurveKeyPair first = Keys();
  ASSERT_TRUE(WriteCurveKeyFiles(dir_, "w1", first, false));
  CurveKeyPair second = Keys();
  auto again = WriteCurveKeyFiles(dir_, "w1", second, false);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_NE(again.error().message.find("already exists"), std::string::npos);
  EXPECT_EQ(LoadCurveKeyFile(dir_ + "/w1.key")->secret_key, first.secret_key);

  // Only the .pub left over still blocks a new pair (no silent half-replacement).
  fs::remove(dir_ + "/w1.key");
  EXPECT_FALSE(WriteCurveKeyFiles(dir_, "w1", second, false).has_value());
  EXPECT_FALSE(fs::exists(dir_ + "/w1.key"));

  ASSERT_EQ(chmod((dir_ + "/w1.pub").c_str(), 0666), 0);
  std::ofstream(dir_ + "/w1.key") << "junk";
  ASSERT_EQ(chmod((dir_ + "/w1.key").c_str(), 0644), 0);
  ASSERT_TRUE(WriteCurveKeyFiles(dir_, "w1", second, true));
  EXPECT_EQ(Mode(dir_ + "/w1.key"), 0600u);
  EXPECT_EQ(Mode(dir_ + "/w1.pub"), 0644u);
  EXPECT_EQ(LoadCurveKeyFile(dir_ + "/w1.key")->secret_key, second.secret_key);
}

TEST_F(CurveKeysTest, RefusesBadNamesAndMissingDirectories) {
  CurveKeyPair keys = Keys();
  for (const char* name : {"", "../x", ".hidden", "a/b", "sp ace"}) {
    auto r = WriteCurveKeyFiles(dir_, name, keys, false);
    ASSERT_FALSE(r.has_value()) << name;
    EXPECT_NE(r.error().message.find("not allowed"), std::string::npos) << r.error().message;
  }
  auto r = WriteCurveKeyFiles(dir_ + "/missing", "x", keys, false);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("does not exist"), std::string::npos);
}

TEST_F(CurveKeysTest, ReadsCzmqWrittenCertificates) {
  // As czmq's zcert_save writes them: a banner, metadata entries, then the keys.
  CurveKeyPair keys = Keys();
  std::string text =
      "#   ****  Generated on 2024-05-01 10:00:00 by CZMQ  ****\n"
      "#   ZeroMQ CURVE **Secret** Certificate\n"
      "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n"
      "\n"
      "metadata\n"
      "    name = \"worker 7\"\n"
      "    public-key = \"not-a-key\"\n"  // a metadata entry, not the key
      "curve\n"
      "    public-key = \"" +
      keys.public_key +
      "\"\r\n"
      "    secret-key = '" +
      keys.secret_key + "'\n";
  auto parsed = ParseCurveCertificate(text, "czmq.key_secret");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(parsed->public_key, keys.public_key);
  EXPECT_EQ(parsed->secret_key, keys.secret_key);
}

TEST_F(CurveKeysTest, ParserRejectionsNameTheFileAndTheProblem) {
  CurveKeyPair keys = Keys();
  CurveKeyPair other = Keys();
  struct Case {
    std::string text;
    std::string expect;
  };
  std::vector<Case> cases = {
      {"", "no public-key"},
      {"metadata\n    public-key = \"" + keys.public_key + "\"\n", "no public-key"},
      {"curve\n    public-key = \"short\"\n", "is 5 characters; a Z85 CURVE key has 40"},
      {"curve\n    public-key = \"" + keys.public_key.substr(0, 39) + "\"\"\n",
       "outside the Z85 alphabet at position 40"},
      {"curve\n    public-key = \"" + std::string(40, '#') + "\"\n", "not valid Z85"},
      {"curve\n    public-key = \"" + keys.public_key + "\"\n    public-key = \"" +
           keys.public_key + "\"\n",
       "line 3: public-key given twice"},
      {"curve\n    public-key = \"" + other.public_key + "\"\n    secret-key = \"" +
           keys.secret_key + "\"\n",
       "public-key does not belong to secret-key"},
      {"curve\n    secret-key = \"" + keys.secret_key + "\"\n", "no public-key"},
  };
  for (const auto& c : cases) {
    auto r = ParseCurveCertificate(c.text, "/etc/taskmill/x.key");
    ASSERT_FALSE(r.has_value()) << c.text;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().message.rfind("/etc/taskmill/x.key: ", 0), 0u) << r.error().message;
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos)
        << "wanted '" << c.expect << "' in: " << r.error().message;
    EXPECT_EQ(r.error().message.find(keys.secret_key), std::string::npos) << "secret leaked";
  }
}

TEST_F(CurveKeysTest, LoadersRejectWhatTheyCannotUse) {
  CurveKeyPair keys = Keys();
  ASSERT_TRUE(WriteCurveKeyFiles(dir_, "c", keys, false));
  // A .pub where a .key is needed.
  auto pub_as_key = LoadCurveKeyFile(dir_ + "/c.pub");
  ASSERT_FALSE(pub_as_key.has_value());
  EXPECT_NE(pub_as_key.error().message.find("no secret-key"), std::string::npos);
  // Missing and oversized files.
  auto missing = LoadCurveKeyFile(dir_ + "/nope.key");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("cannot read " + dir_ + "/nope.key"), std::string::npos);
  std::string big = Write("big.key", std::string(100 * 1024, '#'));
  EXPECT_NE(LoadCurveKeyFile(big).error().message.find("not a key file"), std::string::npos);
  // Neither a file nor a key; a 40-character non-key is refused without being echoed.
  auto neither = LoadCurvePublicKey("/no/such/file.pub");
  ASSERT_FALSE(neither.has_value());
  EXPECT_NE(neither.error().message.find("neither an existing key file"), std::string::npos);
  std::string bad40(40, '"');
  auto bad = LoadCurvePublicKey(bad40);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message.find(bad40), std::string::npos) << bad.error().message;
}

TEST_F(CurveKeysTest, ClientKeysNeedBothOptions) {
  CurveKeyPair server = Keys();
  CurveKeyPair client = Keys();
  ASSERT_TRUE(WriteCurveKeyFiles(dir_, "broker", server, false));
  ASSERT_TRUE(WriteCurveKeyFiles(dir_, "client", client, false));

  auto off = LoadCurveClientKeys("", "");
  ASSERT_TRUE(off.has_value());
  EXPECT_FALSE(off->has_value());

  auto only_server = LoadCurveClientKeys(server.public_key, "");
  ASSERT_FALSE(only_server.has_value());
  EXPECT_NE(only_server.error().message.find("curve-server-key: given without curve-key-file"),
            std::string::npos);
  auto only_key = LoadCurveClientKeys("", dir_ + "/client.key");
  ASSERT_FALSE(only_key.has_value());
  EXPECT_NE(only_key.error().message.find("curve-key-file: given without curve-server-key"),
            std::string::npos);
  auto pub_as_own = LoadCurveClientKeys(dir_ + "/broker.pub", dir_ + "/client.pub");
  ASSERT_FALSE(pub_as_own.has_value());
  EXPECT_EQ(pub_as_own.error().message.rfind("curve-key-file: ", 0), 0u);

  auto both = LoadCurveClientKeys(dir_ + "/broker.pub", dir_ + "/client.key");
  ASSERT_TRUE(both.has_value()) << both.error().message;
  ASSERT_TRUE(both->has_value());
  EXPECT_EQ((*both)->server_public_key, server.public_key);
  EXPECT_EQ((*both)->own.secret_key, client.secret_key);

  // The keys land on a socket (read back as Z85).
  void* ctx = zmq_ctx_new();
  void* dealer = zmq_socket(ctx, ZMQ_DEALER);
  ASSERT_TRUE(ApplyCurveClient(dealer, **both));
  char z85[41] = {};
  size_t len = sizeof z85;
  ASSERT_EQ(zmq_getsockopt(dealer, ZMQ_CURVE_SERVERKEY, z85, &len), 0);
  EXPECT_EQ(std::string(z85), server.public_key);
  void* router = zmq_socket(ctx, ZMQ_ROUTER);
  ASSERT_TRUE(ApplyCurveServer(router, server));
  int is_server = 0;
  len = sizeof is_server;
  ASSERT_EQ(zmq_getsockopt(router, ZMQ_CURVE_SERVER, &is_server, &len), 0);
  EXPECT_EQ(is_server, 1);
  zmq_close(dealer);
  zmq_close(router);
  zmq_ctx_term(ctx);
}

TEST(CurveZ85Test, EncodeDecodeRoundTrip) {
  auto keys = GenerateCurveKeyPair();
  ASSERT_TRUE(keys.has_value());
  auto binary = DecodeZ85Key(keys->public_key);
  ASSERT_TRUE(binary.has_value());
  EXPECT_EQ(binary->size(), 32u);
  EXPECT_EQ(EncodeZ85Key(*binary), keys->public_key);
  EXPECT_EQ(EncodeZ85Key("short"), "");
}

}  // namespace
}  // namespace taskmill
