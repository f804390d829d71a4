#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "taskmill/shared/error.h"

namespace taskmill {

// Where an HTTP listener binds: HOST:PORT ([::1]:PORT for IPv6); port 0 picks a free one.
struct HttpAddress {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const;  // "127.0.0.1:9464", "[::1]:9464"
};

// "off" -> nullopt (no listener); otherwise HOST:PORT. Errors name the flag.
Result<std::optional<HttpAddress>> ParseHttpAddress(std::string_view text, std::string_view flag);

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Extra response headers (Cache-Control, Content-Security-Policy, ...); names and values
  // are the handler's own constants, never request data (no header injection).
  std::vector<std::pair<std::string, std::string>> headers = {};
};

// One parsed request, as a handler sees it. Everything in it is untrusted.
struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the target before '?', not decoded
  std::string query;   // the target after '?', raw
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
  std::string body;  // at most HttpServerOptions::max_body_bytes

  // The first header of that (lower-case) name; "" when absent.
  std::string_view Header(std::string_view lower_name) const;
  // The first query parameter of that name, percent-decoded ('+' is a space); nullopt when
  // absent or badly encoded.
  std::optional<std::string> Query(std::string_view name) const;
};

// Decodes a query-string component; nullopt for a bad %XX escape.
std::optional<std::string> PercentDecode(std::string_view text);

// Limits of one listener; bad input past them gets a 4xx, never a crash.
struct HttpServerOptions {
  int threads = 4;                   // requests answered at once (heads are read apart, below)
  int64_t read_timeout_ms = 3000;    // the whole request head must arrive within this: else 408
  int64_t write_timeout_ms = 3000;   // the whole answer must be taken within this: else dropped
  size_t max_head_bytes = 16 << 10;  // request line + headers; past it: 431
  size_t max_body_bytes = 0;         // a request body past it: 413 (0: no route takes one)
  // Connections open at once (reading a head, waiting or being answered). Past it the one
  // that has waited longest for its head is cut off with 408 (503 if none is reading).
  size_t max_connections = 512;
};

// A small HTTP/1.1 server for the health, metrics and dashboard endpoints: routes by exact
// path (the query string is handed to the handler, never used for routing) and method (GET
// routes answer HEAD too), 404 for any other path, 405 for another method on a known path,
// 400 for a malformed request line or a chunked body, 431 for a request head past
// max_head_bytes, 413 for a body past max_body_bytes, 408 when the request does not
// arrive within read_timeout_ms. One request per connection (Connection: close). Each
// answer is reported to `on_answer` (status code), e.g. for a requests counter.
//
// One thread accepts and reads the heads of every connection at once (poll, a bounded
// buffer each), so slow or silent clients cost a buffer, never a handler thread: a probe
// is answered as soon as its own head is in, whatever else is connected. Complete heads go
// to `threads` handler threads.
//
// Lifecycle: construct, Route() each path, Start() (binds, then serves on its own threads),
// Stop() or destroy (joins them). Handlers run on the server's threads, several at once:
// they must be thread-safe and must never touch another thread's objects without a lock
// (the broker's handlers read snapshots its reactor publishes). Owner: the broker's or
// worker's Run(); not copyable.
class HttpServer {
 public:
  using Handler = std::function<HttpResponse()>;
  using RequestHandler = std::function<HttpResponse(const HttpRequest&)>;

  explicit HttpServer(HttpServerOptions options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // GET (and HEAD) of `path`.
  void Route(std::string path, Handler handler);
  // `path` with these methods ("GET" also answers HEAD); the handler sees the request.
  void Route(std::string path, std::vector<std::string> methods, RequestHandler handler);
  void OnAnswer(std::function<void(int status)> cb);
  // Binds and starts serving; returns the bound address (the real port when port was 0).
  Result<HttpAddress> Start(const HttpAddress& address);
  // Stops accepting, finishes what is in flight, joins. Idempotent.
  void Stop();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace taskmill
