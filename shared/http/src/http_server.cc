// The HTTP listener of the broker and worker, on cpp-httplib: it brings the parser with its
// line and header limits, timeouts and a thread pool, so the reactor threads never see a
// socket of it.

#include "taskmill/shared/http_server.h"

#include <httplib.h>

#include <charconv>
#include <thread>

namespace taskmill {

std::string HttpAddress::ToString() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<std::optional<HttpAddress>> ParseHttpAddress(std::string_view text, std::string_view flag) {
  auto bad = [&](std::string why) {
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string(flag) + ": '" + std::string(text) + "' " + why +
                         " (HOST:PORT, [IPv6]:PORT or off)");
  };
  if (text == "off") return std::optional<HttpAddress>();
  HttpAddress a;
  std::string_view port;
  if (text.starts_with("[")) {
    size_t close = text.find("]:");
    if (close == std::string_view::npos) return bad("has no ]:PORT");
    a.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("has no :PORT");
    a.host = std::string(text.substr(0, colon));
    if (a.host.find(':') != std::string::npos) return bad("needs brackets around an IPv6 host");
    port = text.substr(colon + 1);
  }
  if (a.host.empty()) return bad("has no host");
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return bad("has no valid port");
  }
  a.port = static_cast<uint16_t>(value);
  return std::optional<HttpAddress>(std::move(a));
}

struct HttpServer::State {
  HttpServerOptions options;
  httplib::Server server;
  std::map<std::string, Handler> routes;
  std::function<void(int)> on_answer;
  std::thread thread;
  bool started = false;
};

HttpServer::HttpServer(HttpServerOptions options) : state_(std::make_unique<State>()) {
  state_->options = options;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Route(std::string path, Handler handler) {
  state_->routes[std::move(path)] = std::move(handler);
}

void HttpServer::OnAnswer(std::function<void(int status)> cb) { state_->on_answer = std::move(cb); }

Result<HttpAddress> HttpServer::Start(const HttpAddress& address) {
  State& s = *state_;
  auto& server = s.server;
  const HttpServerOptions& o = s.options;
  int threads = std::max(1, o.threads);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  auto secs = [](int64_t ms) { return std::pair<time_t, time_t>(ms / 1000, (ms % 1000) * 1000); };
  server.set_read_timeout(secs(o.read_timeout_ms).first, secs(o.read_timeout_ms).second);
  server.set_write_timeout(secs(o.write_timeout_ms).first, secs(o.write_timeout_ms).second);
  server.set_keep_alive_timeout(std::max<time_t>(1, o.keep_alive_timeout_ms / 1000));
  server.set_keep_alive_max_count(static_cast<size_t>(std::max(1, o.keep_alive_max_requests)));
  server.set_payload_max_length(o.max_body_bytes);

  // Every path and method comes through one handler per method, so unknown paths and
  // methods are answered here, with no file system behind them (no traversal possible).
  auto serve = [&s](const httplib::Request& req, httplib::Response& res) {
    auto it = s.routes.find(req.path);
    if (it == s.routes.end()) {
      res.status = 404;
      res.set_content("not found\n", "text/plain; charset=utf-8");
      return;
    }
    if (req.method != "GET" && req.method != "HEAD") {
      res.status = 405;
      res.set_header("Allow", "GET, HEAD");
      res.set_content("method not allowed\n", "text/plain; charset=utf-8");
      return;
    }
    HttpResponse r = it->second();
    res.status = r.status;
    res.set_content(std::move(r.body), r.content_type.c_str());
  };
  const std::string any = ".*";
  server.Get(any, serve);
  server.Post(any, serve);
  server.Put(any, serve);
  server.Patch(any, serve);
  server.Delete(any, serve);
  server.Options(any, serve);
  server.set_logger([&s](const httplib::Request&, const httplib::Response& res) {
    if (s.on_answer) s.on_answer(res.status);
  });
  // Errors the parser answers itself (400 bad request line, 413, 414, ...) are logged too.

  int port = address.port == 0 ? server.bind_to_any_port(address.host)
                               : (server.bind_to_port(address.host, address.port) ? address.port
                                                                                  : -1);
  if (port < 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--http: cannot bind " + address.ToString() + " (in use or not local?)");
  }
  s.started = true;
  s.thread = std::thread([&server] { server.listen_after_bind(); });
  HttpAddress bound = address;
  bound.port = static_cast<uint16_t>(port);
  return bound;
}

void HttpServer::Stop() {
  if (!state_ || !state_->started) return;
  state_->server.stop();
  if (state_->thread.joinable()) state_->thread.join();
  state_->started = false;
}

}  // namespace taskmill
