#pragma once

// CURVE keys for the broker's sockets (docs/security.md): generating a key pair, the key
// files (czmq's zcert text layout, so other ZeroMQ tools read them), and setting the keys
// on a socket. The one place the key-file format is read or written; broker, worker,
// client and the `taskmill keygen` command all use it. Secret keys are never logged and
// never put into an error message.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "taskmill/shared/error.h"

namespace taskmill {

// Length of a CURVE key in Z85 text; the binary key is 32 bytes.
inline constexpr size_t kCurveKeyZ85Length = 40;
inline constexpr size_t kCurveKeyBytes = 32;
// The ZAP domain the broker's sockets announce (ZMQ_ZAP_DOMAIN).
inline constexpr std::string_view kCurveZapDomain = "taskmill";

// A CURVE key pair as Z85 text. A public certificate (.pub) has no secret half.
struct CurveKeyPair {
  std::string public_key;  // 40 Z85 characters
  std::string secret_key;  // 40 Z85 characters; empty for a public certificate
};

// What a connecting peer (client or worker) sets on its DEALER.
struct CurveClientKeys {
  std::string server_public_key;  // the broker's public key, Z85
  CurveKeyPair own;               // this peer's key pair (both halves)
};

// Checks that `key` is 40 Z85 characters that decode to a 32-byte key. The message says
// what is wrong without repeating the key (it may be a secret one).
Result<void> ValidateZ85Key(std::string_view key);
// The 32 binary bytes of a valid Z85 key (ValidateZ85Key first).
Result<std::string> DecodeZ85Key(std::string_view key);
// The Z85 text of 32 binary bytes.
std::string EncodeZ85Key(std::string_view binary_key);

// A new random key pair (zmq_curve_keypair; needs libzmq built with CURVE).
Result<CurveKeyPair> GenerateCurveKeyPair();

// The text of a key file: NAME.key (with_secret: both keys, "Secret" banner) or NAME.pub.
std::string FormatCurveCertificate(const CurveKeyPair& keys, bool with_secret);
// Parses key-file text (the zcert layout: "curve" section with public-key and, in a
// .key, secret-key). `origin` (a file name) starts every error message. A file with a
// secret key must hold the matching public key.
Result<CurveKeyPair> ParseCurveCertificate(std::string_view text, const std::string& origin);

// Reads a .key file; both keys must be present.
Result<CurveKeyPair> LoadCurveKeyFile(const std::string& path);
// A public key given as a literal 40-character Z85 string, or as the path of a .pub (or
// .key) file whose public key is taken.
Result<std::string> LoadCurvePublicKey(const std::string& file_or_z85);

// The paths `WriteCurveKeyFiles` wrote.
struct CurveKeyFiles {
  std::string key_file;  // DIR/NAME.key, mode 0600
  std::string pub_file;  // DIR/NAME.pub, mode 0644
};
// Writes DIR/NAME.key and DIR/NAME.pub. NAME is [A-Za-z0-9_.-]{1,128}, not starting with
// '.'. Refuses when either file exists, unless `overwrite`. DIR must exist.
Result<CurveKeyFiles> WriteCurveKeyFiles(const std::string& dir, const std::string& name,
                                         const CurveKeyPair& keys, bool overwrite);

// The CURVE keys of a connecting peer from its two options (flag names in messages:
// curve-server-key, curve-key-file): nullopt when both are empty (CURVE off); an error
// when only one is given or a key does not load.
Result<std::optional<CurveClientKeys>> LoadCurveClientKeys(const std::string& server_key,
                                                           const std::string& key_file);

// Makes a socket a CURVE client: ZMQ_CURVE_SERVERKEY, PUBLICKEY, SECRETKEY. Call before
// connect, on every new socket.
Result<void> ApplyCurveClient(void* socket, const CurveClientKeys& keys);
// Makes a socket a CURVE server with the ZAP domain kCurveZapDomain. Call before bind.
Result<void> ApplyCurveServer(void* socket, const CurveKeyPair& keys);

}  // namespace taskmill
