#include "http/api_access.h"

#include <fstream>

namespace taskmill::broker {
namespace {

Result<std::string> ReadToken(const std::string& path, const char* flag) {
  if (path.empty()) return std::string();
  auto bad = [&](const std::string& why) {
    return MakeError(ErrorCode::kInvalidArgument, std::string(flag) + ": " + path + ": " + why);
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) return bad("cannot be read");
  std::string text(kMaxHttpTokenBytes + 64, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  auto space = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!text.empty() && space(text.back())) text.pop_back();
  size_t first = 0;
  while (first < text.size() && space(text[first])) ++first;
  text.erase(0, first);
  if (text.size() < kMinHttpTokenBytes || text.size() > kMaxHttpTokenBytes) {
    return bad("must hold one token of 16 to 1024 characters");
  }
  for (char c : text) {
    if (c <= ' ' || c > '~') return bad("the token must be printable ASCII without spaces");
  }
  return text;
}

}  // namespace

Result<HttpTokens> LoadHttpTokens(const std::string& admin_file, const std::string& read_file,
                                  bool curve) {
  HttpTokens t;
  t.curve = curve;
  auto admin = ReadToken(admin_file, "--http-token-file");
  if (!admin) return std::unexpected(admin.error());
  auto read = ReadToken(read_file, "--http-read-token-file");
  if (!read) return std::unexpected(read.error());
  t.admin = std::move(*admin);
  t.read = std::move(*read);
  if (!t.admin.empty() && t.admin == t.read) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--http-read-token-file: must differ from --http-token-file");
  }
  return t;
}

bool SameSecret(std::string_view presented, std::string_view secret) {
  if (secret.empty()) return false;
  // Walk the presented bytes against the secret (repeated), so the time depends on the
  // presented length only; a length mismatch is folded into the same accumulator.
  unsigned diff = presented.size() == secret.size() ? 0u : 1u;
  for (size_t i = 0; i < presented.size(); ++i) {
    diff |= static_cast<unsigned char>(presented[i]) ^
            static_cast<unsigned char>(secret[i % secret.size()]);
  }
  return diff == 0;
}

Presented Identify(const HttpTokens& tokens, const HttpRequest& request) {
  std::string_view auth = request.Header("authorization");
  if (auth.empty()) return Presented::kNone;
  constexpr std::string_view kBearer = "Bearer ";
  if (auth.size() <= kBearer.size() || auth.substr(0, kBearer.size()) != kBearer) {
    return Presented::kWrong;
  }
  std::string_view token = auth.substr(kBearer.size());
  // Both comparisons always run, so which token matched does not show in the time taken.
  bool admin = SameSecret(token, tokens.admin);
  bool read = SameSecret(token, tokens.read);
  if (admin) return Presented::kAdmin;
  if (read) return Presented::kRead;
  return Presented::kWrong;
}

bool ReadsNeedToken(const HttpTokens& tokens) { return tokens.curve || !tokens.read.empty(); }

std::optional<Refusal> CheckAccess(const HttpTokens& tokens, const HttpRequest& request,
                                   ApiNeed need) {
  if (need == ApiNeed::kOpen) return std::nullopt;
  Presented p = Identify(tokens, request);
  if (need == ApiNeed::kRead) {
    if (!ReadsNeedToken(tokens) || p == Presented::kRead || p == Presented::kAdmin) {
      return std::nullopt;
    }
    if (tokens.read.empty() && tokens.admin.empty()) {
      return Refusal{403, "forbidden",
                     "with CURVE on, reading tasks over HTTP needs --http-read-token-file or "
                     "--http-token-file"};
    }
    return Refusal{401, "unauthorized", "this needs the read or the admin token"};
  }
  if (tokens.admin.empty()) {
    return Refusal{403, "forbidden", "read-only: the broker has no --http-token-file"};
  }
  if (p == Presented::kAdmin) return std::nullopt;
  if (p == Presented::kRead) return Refusal{403, "forbidden", "this needs the admin token"};
  return Refusal{401, "unauthorized", "this needs the admin token"};
}

}  // namespace taskmill::broker
