#include "taskmill/shared/curve_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace taskmill {
namespace {

// A key file is a few hundred bytes; anything much larger is not one.
constexpr size_t kMaxKeyFileBytes = 64 * 1024;

constexpr std::string_view kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

std::unexpected<Error> Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// ZPL values may be quoted with "..." or '...'.
std::string_view Unquote(std::string_view v) {
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
    return v.substr(1, v.size() - 2);
  }
  return v;
}

Result<std::string> ReadSmallFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Invalid("cannot read " + path + ": " + std::strerror(errno));
  std::string text;
  char buf[4096];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return Invalid("cannot read " + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxKeyFileBytes) {
      close(fd);
      return Invalid(path + ": larger than " + std::to_string(kMaxKeyFileBytes) +
                     " bytes, not a key file");
    }
  }
  close(fd);
  return text;
}

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name.front() == '.') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Creates (or, with overwrite, truncates) `path` with `mode` and writes `text`.
Result<void> WriteFileWithMode(const std::string& path, const std::string& text, mode_t mode,
                               bool overwrite) {
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL);
  int fd = open(path.c_str(), flags, mode);
  if (fd < 0) return Invalid("cannot create " + path + ": " + std::strerror(errno));
  // open() applies the umask and keeps an existing file's mode: set it explicitly.
  bool ok = fchmod(fd, mode) == 0;
  for (size_t done = 0; ok && done < text.size();) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = false;
    if (n > 0) done += static_cast<size_t>(n);
  }
  int err = errno;
  if (close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) return Invalid("cannot write " + path + ": " + std::strerror(err));
  return {};
}

}  // namespace

Result<void> ValidateZ85Key(std::string_view key) {
  if (key.size() != kCurveKeyZ85Length) {
    return Invalid("is " + std::to_string(key.size()) + " characters; a Z85 CURVE key has " +
                   std::to_string(kCurveKeyZ85Length));
  }
  for (size_t i = 0; i < key.size(); ++i) {
    if (kZ85Alphabet.find(key[i]) == std::string_view::npos) {
      return Invalid("has a character outside the Z85 alphabet at position " +
                     std::to_string(i + 1));
    }
  }
  uint8_t binary[kCurveKeyBytes];
  std::string text(key);
  if (zmq_z85_decode(binary, text.c_str()) == nullptr) {
    return Invalid("is not valid Z85 (zmq_z85_decode refused it)");
  }
  return {};
}

Result<std::string> DecodeZ85Key(std::string_view key) {
  if (auto v = ValidateZ85Key(key); !v) return std::unexpected(v.error());
  std::string binary(kCurveKeyBytes, '\0');
  std::string text(key);
  zmq_z85_decode(reinterpret_cast<uint8_t*>(binary.data()), text.c_str());
  return binary;
}

std::string EncodeZ85Key(std::string_view binary_key) {
  char text[kCurveKeyZ85Length + 1] = {};
  if (binary_key.size() != kCurveKeyBytes ||
      zmq_z85_encode(text, reinterpret_cast<const uint8_t*>(binary_key.data()),
                     binary_key.size()) == nullptr) {
    return "";
  }
  return text;
}

Result<CurveKeyPair> GenerateCurveKeyPair() {
  char public_key[kCurveKeyZ85Length + 1] = {};
  char secret_key[kCurveKeyZ85Length + 1] = {};
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    return MakeError(ErrorCode::kInternal, std::string("zmq_curve_keypair: ") +
                                               zmq_strerror(zmq_errno()) +
                                               " (is libzmq built with CURVE support?)");
  }
  CurveKeyPair keys{public_key, secret_key};
  std::memset(secret_key, 0, sizeof secret_key);
  return keys;
}

std::string FormatCurveCertificate(const CurveKeyPair& keys, bool with_secret) {
  std::string text = with_secret ? "#   ZeroMQ CURVE **Secret** Certificate\n"
                                 : "#   ZeroMQ CURVE Public Certificate\n";
  text += "#   written by taskmill keygen\n";
  text += "\nmetadata\ncurve\n    public-key = \"" + keys.public_key + "\"\n";
  if (with_secret) text += "    secret-key = \"" + keys.secret_key + "\"\n";
  return text;
}

Result<CurveKeyPair> ParseCurveCertificate(std::string_view text, const std::string& origin) {
  CurveKeyPair keys;
  bool has_public = false;
  bool has_secret = false;
  std::string_view section;
  int line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    std::string_view trimmed = Trim(line);
    if (trimmed.empty() || trimmed.front() == '#') continue;
    if (line.front() != ' ' && line.front() != '\t') {  // a top-level section name
      section = Trim(trimmed.substr(0, trimmed.find('=')));
      continue;
    }
    if (section != "curve") continue;  // metadata and anything else: not ours to read
    size_t eq = trimmed.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = Trim(trimmed.substr(0, eq));
    std::string_view value = Unquote(Trim(trimmed.substr(eq + 1)));
    bool is_public = name == "public-key";
    if (!is_public && name != "secret-key") continue;
    bool& seen = is_public ? has_public : has_secret;
    if (seen) {
      return Invalid(origin + ": line " + std::to_string(line_no) + ": " + std::string(name) +
                     " given twice");
    }
    seen = true;
    if (auto v = ValidateZ85Key(value); !v) {
      return Invalid(origin + ": line " + std::to_string(line_no) + ": " + std::string(name) + " " +
                     v.error().message);
    }
    (is_public ? keys.public_key : keys.secret_key) = std::string(value);
  }
  if (!has_public) {
    return Invalid(origin +
                   ": no public-key in a 'curve' section (expected the zcert layout that "
                   "`taskmill keygen` writes)");
  }
  if (has_secret) {
    char derived[kCurveKeyZ85Length + 1] = {};
    if (zmq_curve_public(derived, keys.secret_key.c_str()) != 0 || keys.public_key != derived) {
      return Invalid(origin + ": public-key does not belong to secret-key");
    }
  }
  return keys;
}

Result<CurveKeyPair> LoadCurveKeyFile(const std::string& path) {
  auto text = ReadSmallFile(path);
  if (!text) return std::unexpected(text.error());
  auto keys = ParseCurveCertificate(*text, path);
  if (!keys) return keys;
  if (keys->secret_key.empty()) {
    return Invalid(path +
                   ": no secret-key (this looks like a .pub file; the .key file of the "
                   "pair is needed here)");
  }
  return keys;
}

Result<std::string> LoadCurvePublicKey(const std::string& file_or_z85) {
  if (file_or_z85.empty()) return Invalid("empty: give a .pub file or a 40-character Z85 key");
  std::error_code ec;
  if (std::filesystem::exists(file_or_z85, ec)) {
    auto text = ReadSmallFile(file_or_z85);
    if (!text) return std::unexpected(text.error());
    auto keys = ParseCurveCertificate(*text, file_or_z85);
    if (!keys) return std::unexpected(keys.error());
    return keys->public_key;
  }
  if (file_or_z85.size() == kCurveKeyZ85Length) {
    // Not echoed: a mistaken secret key must not end up in a log.
    if (auto v = ValidateZ85Key(file_or_z85); !v) {
      return Invalid("the 40-character key " + v.error().message);
    }
    return file_or_z85;
  }
  return Invalid("'" + file_or_z85 +
                 "' is neither an existing key file nor a 40-character Z85 public key");
}

Result<CurveKeyFiles> WriteCurveKeyFiles(const std::string& dir, const std::string& name,
                                         const CurveKeyPair& keys, bool overwrite) {
  if (!ValidName(name)) {
    return Invalid("key name '" + name +
                   "' is not allowed: use [A-Za-z0-9_.-]{1,128}, not starting with '.'");
  }
  if (keys.secret_key.empty()) return Invalid("key pair has no secret key");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return Invalid("directory '" + dir + "' does not exist");
  }
  CurveKeyFiles files{(std::filesystem::path(dir) / (name + ".key")).string(),
                      (std::filesystem::path(dir) / (name + ".pub")).string()};
  if (!overwrite) {
    for (const auto& path : {files.key_file, files.pub_file}) {
      if (std::filesystem::exists(std::filesystem::symlink_status(path, ec))) {
        return MakeError(ErrorCode::kConflict,
                         path + " already exists (use --force to replace the key pair)");
      }
    }
  }
  if (auto w =
          WriteFileWithMode(files.key_file, FormatCurveCertificate(keys, true), 0600, overwrite);
      !w) {
    return std::unexpected(w.error());
  }
  if (auto w =
          WriteFileWithMode(files.pub_file, FormatCurveCertificate(keys, false), 0644, overwrite);
      !w) {
    std::filesystem::remove(files.key_file, ec);  // no half pair left behind
    return std::unexpected(w.error());
  }
  return files;
}

Result<std::optional<CurveClientKeys>> LoadCurveClientKeys(const std::string& server_key,
                                                           const std::string& key_file) {
  if (server_key.empty() && key_file.empty()) return std::optional<CurveClientKeys>();
  if (key_file.empty()) {
    return Invalid(
        "curve-server-key: given without curve-key-file (CURVE needs this peer's own key "
        "pair too; make one with `taskmill keygen NAME`)");
  }
  if (server_key.empty()) {
    return Invalid("curve-key-file: given without curve-server-key (the broker's public key)");
  }
  CurveClientKeys keys;
  auto server = LoadCurvePublicKey(server_key);
  if (!server) return Invalid("curve-server-key: " + server.error().message);
  keys.server_public_key = std::move(*server);
  auto own = LoadCurveKeyFile(key_file);
  if (!own) return Invalid("curve-key-file: " + own.error().message);
  keys.own = std::move(*own);
  return std::optional<CurveClientKeys>(std::move(keys));
}

namespace {

Result<void> SetKey(void* socket, int option, const char* option_name, const std::string& z85) {
  auto binary = DecodeZ85Key(z85);
  if (!binary) return Invalid(std::string(option_name) + ": " + binary.error().message);
  if (zmq_setsockopt(socket, option, binary->data(), binary->size()) != 0) {
    return MakeError(ErrorCode::kInternal,
                     std::string("setsockopt ") + option_name + ": " + zmq_strerror(zmq_errno()));
  }
  return {};
}

}  // namespace

Result<void> ApplyCurveClient(void* socket, const CurveClientKeys& keys) {
  if (auto r = SetKey(socket, ZMQ_CURVE_SERVERKEY, "ZMQ_CURVE_SERVERKEY", keys.server_public_key);
      !r) {
    return r;
  }
  if (auto r = SetKey(socket, ZMQ_CURVE_PUBLICKEY, "ZMQ_CURVE_PUBLICKEY", keys.own.public_key);
      !r) {
    return r;
  }
  return SetKey(socket, ZMQ_CURVE_SECRETKEY, "ZMQ_CURVE_SECRETKEY", keys.own.secret_key);
}

Result<void> ApplyCurveServer(void* socket, const CurveKeyPair& keys) {
  int one = 1;
  if (zmq_setsockopt(socket, ZMQ_CURVE_SERVER, &one, sizeof one) != 0) {
    return MakeError(ErrorCode::kInternal, std::string("setsockopt ZMQ_CURVE_SERVER: ") +
                                               zmq_strerror(zmq_errno()) +
                                               " (is libzmq built with CURVE support?)");
  }
  if (auto r = SetKey(socket, ZMQ_CURVE_SECRETKEY, "ZMQ_CURVE_SECRETKEY", keys.secret_key); !r) {
    return r;
  }
  if (zmq_setsockopt(socket, ZMQ_ZAP_DOMAIN, kCurveZapDomain.data(), kCurveZapDomain.size()) != 0) {
    return MakeError(ErrorCode::kInternal,
                     std::string("setsockopt ZMQ_ZAP_DOMAIN: ") + zmq_strerror(zmq_errno()));
  }
  return {};
}

}  // namespace taskmill
