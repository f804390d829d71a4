#pragma once

// Who may use the dashboard's /api (docs/security.md, "HTTP tokens"): bearer tokens read
// from files at startup, compared in constant time, never logged or served.

#include <optional>
#include <string>
#include <string_view>

#include "taskmill/shared/error.h"
#include "taskmill/shared/http_server.h"

namespace taskmill::broker {

// Shortest and longest token a token file may hold.
constexpr size_t kMinHttpTokenBytes = 16;
constexpr size_t kMaxHttpTokenBytes = 1024;

// The tokens of one broker. Immutable once loaded; read by the HTTP threads.
struct HttpTokens {
  std::string admin;   // --http-token-file: retry, purge, cancel (and reads); "" none
  std::string read;    // --http-read-token-file: reads of task data; "" none
  bool curve = false;  // true iff the broker runs with CURVE: reads of task data need a token
};

// Reads the token files ("" = none): one token each, surrounding whitespace trimmed,
// 16 to 1024 printable bytes. The error names the file and the flag, never the content.
Result<HttpTokens> LoadHttpTokens(const std::string& admin_file, const std::string& read_file,
                                  bool curve);

// What an /api endpoint needs.
enum class ApiNeed {
  kOpen,   // no task data (overview, workers): always served, like /metrics
  kRead,   // task data (tasks, batches, dead letters)
  kAdmin,  // an admin action (retry, purge, cancel)
};

// Which token a request presented.
enum class Presented { kNone, kWrong, kRead, kAdmin };
Presented Identify(const HttpTokens& tokens, const HttpRequest& request);

// True iff reads of task data need a token (CURVE on, or a read token set).
bool ReadsNeedToken(const HttpTokens& tokens);

// Why a request is refused: 401 (no or a wrong token) or 403 (the token, or the broker's
// setup, does not allow it); the reason labels the refusal counter.
struct Refusal {
  int status = 401;
  std::string reason;  // "unauthorized" or "forbidden"
  std::string message;
};
std::optional<Refusal> CheckAccess(const HttpTokens& tokens, const HttpRequest& request,
                                   ApiNeed need);

// Equal in time that depends only on the length of `presented`, not on where it differs.
bool SameSecret(std::string_view presented, std::string_view secret);

}  // namespace taskmill::broker
