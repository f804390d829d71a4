#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

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
};

// Limits of one listener; bad input past them gets a 4xx, never a crash.
struct HttpServerOptions {
  int threads = 4;                    // connections served at once (the rest wait)
  int64_t read_timeout_ms = 5000;     // a client that sends nothing for this long is dropped
  int64_t write_timeout_ms = 5000;    // a client that reads nothing for this long is dropped
  int64_t keep_alive_timeout_ms = 5000;
  int keep_alive_max_requests = 100;  // requests per connection
  size_t max_body_bytes = 4096;       // request bodies past this: 413
  // Request line and headers are capped by cpp-httplib itself: 8 KiB per line, 100 headers.
};

// A small HTTP/1.1 server for the health and metrics endpoints: GET (and HEAD) routes by
// exact path, 404 for any other path, 405 for another method on a known path. Each answer
// is reported to `on_answer` (status code), e.g. for a requests counter.
//
// Lifecycle: construct, Route() each path, Start() (binds, then serves on its own threads),
// Stop() or destroy (joins them). Handlers run on the server's threads, several at once:
// they must be thread-safe and must never touch another thread's objects without a lock
// (the broker's handlers read snapshots its reactor publishes). Owner: the broker's or
// worker's Run(); not copyable.
class HttpServer {
 public:
  using Handler = std::function<HttpResponse()>;

  explicit HttpServer(HttpServerOptions options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void Route(std::string path, Handler handler);
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
