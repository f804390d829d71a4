// The HTTP listener of the broker and worker. It is small on purpose: a few fixed paths,
// GET/HEAD and (the dashboard's API) small POST bodies, one request per connection, every
// byte bounded. cpp-httplib 0.11 (Debian 12)
// was tried first and dropped for the server side: it caps each header line but not their
// number, and one client sending headers for 4 s grew the broker by 400 MB.

#include "taskmill/shared/http_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace taskmill {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

// Writes all of `data` before `deadline_ms`; false when the peer is gone or too slow.
bool WriteAll(int fd, std::string_view data, int64_t deadline_ms) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    int64_t left = deadline_ms - NowMs();
    if (left <= 0) return false;
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) return false;
  }
  return true;
}

}  // namespace

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

std::optional<std::string> PercentDecode(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string_view HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return v;
  }
  return {};
}

std::optional<std::string> HttpRequest::Query(std::string_view name) const {
  std::string_view rest = query;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    size_t eq = pair.find('=');
    auto key = PercentDecode(pair.substr(0, eq));
    if (!key || *key != name) continue;
    return PercentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
  }
  return std::nullopt;
}

struct HttpServer::State {
  // A connection and what it has sent of its request head.
  struct Conn {
    int fd = -1;
    std::string head;
    int64_t deadline = 0;  // the whole head must be in by then (NowMs)
  };

  struct Entry {
    std::vector<std::string> methods;  // "GET" also answers HEAD
    RequestHandler handler;
  };
  HttpServerOptions options;
  std::map<std::string, Entry> routes;  // frozen once Start runs
  std::function<void(int)> on_answer;
  int listen_fd = -1;
  int stop_fd = -1;  // eventfd: readable once Stop is called; the reader wakes
  std::thread reader;                // accepts and reads every head (ReadHeads)
  std::vector<std::thread> threads;  // answer complete heads (Work)
  std::atomic<size_t> open{0};       // connections accepted and not yet closed

  std::mutex mu;               // guards the three below
  std::condition_variable cv;  // signalled on a new complete head and on stop
  std::deque<Conn> complete;   // heads read, waiting for a handler thread
  bool stopping = false;

  void ReadHeads();
  void Work();
  // Reads what `c` has sent; true when it is done with (complete: queued; else answered
  // or gone, and closed).
  bool ReadSome(Conn& c);
  // Answers at once with a short error (one non-blocking send) and closes.
  void Refuse(Conn& c, int status, const std::string& body);
  void Answer(int fd, const std::string& head, int64_t deadline);
  void Reply(int fd, const HttpResponse& r, bool head, const std::string& allow = "",
             int64_t write_ms = -1);
  // Reads the body the headers announce (bytes past the blank line may already be in
  // `extra`) into `req.body`; a status code when it cannot be taken, 0 when done.
  int ReadBody(int fd, std::string extra, int64_t deadline, HttpRequest& req);
};

HttpServer::HttpServer(HttpServerOptions options) : state_(std::make_unique<State>()) {
  state_->options = options;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Route(std::string path, Handler handler) {
  state_->routes[std::move(path)] = {{"GET"},
                                     [h = std::move(handler)](const HttpRequest&) { return h(); }};
}

void HttpServer::Route(std::string path, std::vector<std::string> methods,
                       RequestHandler handler) {
  state_->routes[std::move(path)] = {std::move(methods), std::move(handler)};
}

void HttpServer::OnAnswer(std::function<void(int status)> cb) { state_->on_answer = std::move(cb); }

Result<HttpAddress> HttpServer::Start(const HttpAddress& address) {
  State& s = *state_;
  auto fail = [&](const std::string& why) {
    if (s.listen_fd >= 0) close(s.listen_fd);
    s.listen_fd = -1;
    return MakeError(ErrorCode::kInvalidArgument,
                     "--http: cannot listen on " + address.ToString() + ": " + why);
  };
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string port = std::to_string(address.port);
  if (int rc = getaddrinfo(address.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return fail(gai_strerror(rc));
  }
  std::string why = "no address";
  for (addrinfo* ai = found; ai != nullptr && s.listen_fd < 0; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 512) == 0) {
      s.listen_fd = fd;
    } else {
      why = std::strerror(errno);
      close(fd);
    }
  }
  freeaddrinfo(found);
  if (s.listen_fd < 0) return fail(why);
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (getsockname(s.listen_fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return fail(std::strerror(errno));
  }
  HttpAddress out = address;
  out.port = ntohs(bound.ss_family == AF_INET6
                       ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                       : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  s.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s.stop_fd < 0) return fail(std::strerror(errno));
  s.reader = std::thread([&s] { s.ReadHeads(); });
  for (int i = 0; i < std::max(1, s.options.threads); ++i) {
    s.threads.emplace_back([&s] { s.Work(); });
  }
  return out;
}

void HttpServer::Stop() {
  if (!state_ || state_->stop_fd < 0) return;
  uint64_t one = 1;
  (void)!write(state_->stop_fd, &one, sizeof one);
  if (state_->reader.joinable()) state_->reader.join();
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;  // the handlers answer what is queued, then leave
  }
  state_->cv.notify_all();
  for (auto& t : state_->threads) t.join();
  state_->threads.clear();
  state_->stopping = false;
  close(state_->stop_fd);
  state_->stop_fd = -1;
  if (state_->listen_fd >= 0) close(state_->listen_fd);
  state_->listen_fd = -1;
}

// The reader: accepts every connection and reads every request head at once, each into a
// buffer of at most max_head_bytes, each within its read deadline. A client that trickles
// or says nothing costs its buffer until the deadline, never a handler thread.
void HttpServer::State::ReadHeads() {
  std::vector<Conn> reading;  // oldest first
  std::vector<pollfd> fds;
  while (true) {
    fds.assign({{listen_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}});
    int64_t next_deadline = -1;
    for (const auto& c : reading) {
      fds.push_back({c.fd, POLLIN, 0});
      next_deadline = next_deadline < 0 ? c.deadline : std::min(next_deadline, c.deadline);
    }
    int wait_ms = next_deadline < 0
                      ? -1
                      : static_cast<int>(std::max<int64_t>(0, next_deadline - NowMs()));
    int n = poll(fds.data(), fds.size(), wait_ms);
    if (n < 0 && errno != EINTR) break;
    if (fds[1].revents != 0) break;
    int64_t now = NowMs();
    // The connections being read (fds[2 + i] is reading[i]).
    std::vector<Conn> still;
    still.reserve(reading.size());
    for (size_t i = 0; i < reading.size(); ++i) {
      Conn& c = reading[i];
      if (n > 0 && fds[2 + i].revents != 0 && ReadSome(c)) continue;
      if (now >= c.deadline) {
        Refuse(c, 408, "request not received in time\n");
        continue;
      }
      still.push_back(std::move(c));
    }
    reading = std::move(still);
    if (n <= 0 || (fds[0].revents & POLLIN) == 0) continue;
    // Take what the backlog holds, a bounded number per turn.
    for (int taken = 0; taken < 64; ++taken) {
      int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) break;  // EAGAIN: nobody else is waiting (or the client left)
      Conn c{fd, {}, now + options.read_timeout_ms};
      if (open >= options.max_connections) {
        if (reading.empty()) {
          ++open;
          Refuse(c, 503, "too many connections\n");
          continue;
        }
        // Cut off the connection that has waited longest for its head.
        Refuse(reading.front(), 408, "request not received in time\n");
        reading.erase(reading.begin());
      }
      ++open;
      reading.push_back(std::move(c));
    }
  }
  for (auto& c : reading) {
    close(c.fd);
    --open;
  }
}

bool HttpServer::State::ReadSome(Conn& c) {
  char buf[4096];
  while (true) {
    if (c.head.size() >= options.max_head_bytes) {
      Refuse(c, 431, "request head over " + std::to_string(options.max_head_bytes) + " bytes\n");
      return true;
    }
    size_t room = std::min(sizeof buf, options.max_head_bytes - c.head.size());
    ssize_t n = recv(c.fd, buf, room, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    if (n <= 0) {  // the client left
      close(c.fd);
      --open;
      return true;
    }
    size_t from = c.head.size() >= 3 ? c.head.size() - 3 : 0;
    c.head.append(buf, static_cast<size_t>(n));
    if (c.head.find("\r\n\r\n", from) != std::string::npos) {
      {
        std::lock_guard lock(mu);
        complete.push_back(std::move(c));
      }
      cv.notify_one();
      return true;
    }
  }
}

void HttpServer::State::Refuse(Conn& c, int status, const std::string& body) {
  Reply(c.fd, HttpResponse{status, "text/plain; charset=utf-8", body}, false, "",
        /*write_ms=*/0);
  close(c.fd);
  --open;
}

// A handler thread: answers complete heads one at a time, until stopped with none queued.
void HttpServer::State::Work() {
  while (true) {
    Conn c;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return stopping || !complete.empty(); });
      if (complete.empty()) return;
      c = std::move(complete.front());
      complete.pop_front();
    }
    Answer(c.fd, c.head, c.deadline);
    close(c.fd);
    --open;
  }
}

// write_ms: how long the answer may take to be sent (-1: write_timeout_ms; 0: one try).
void HttpServer::State::Reply(int fd, const HttpResponse& r, bool head, const std::string& allow,
                              int64_t write_ms) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + Reason(r.status) +
                    "\r\nContent-Type: " + r.content_type +
                    "\r\nContent-Length: " + std::to_string(r.body.size()) +
                    "\r\nConnection: close\r\n" + (allow.empty() ? "" : "Allow: " + allow + "\r\n");
  for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
  out += "\r\n";
  if (!head) out += r.body;
  (void)WriteAll(fd, out, NowMs() + (write_ms < 0 ? options.write_timeout_ms : write_ms));
  if (on_answer) on_answer(r.status);
}

// `deadline`: when the request's read time runs out (a POST body must be in by then too).
void HttpServer::State::Answer(int fd, const std::string& head, int64_t deadline) {
  auto plain = [](int status, std::string body) {
    return HttpResponse{status, "text/plain; charset=utf-8", std::move(body)};
  };
  // The head is complete (ReadHeads): the request line and headers up to the blank line.
  size_t end = head.find("\r\n\r\n");
  // Request line: METHOD SP TARGET SP HTTP/1.x
  size_t line_end = head.find("\r\n");
  std::string_view line(head.data(), line_end);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || !line.substr(sp2 + 1).starts_with("HTTP/1.")) {
    return Reply(fd, plain(400, "bad request line\n"), false);
  }
  HttpRequest req;
  req.method = std::string(line.substr(0, sp1));
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t question = target.find('?');
  req.path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) req.query = std::string(target.substr(question + 1));
  bool head_only = req.method == "HEAD";
  auto route = routes.find(req.path);
  if (route == routes.end()) {
    // A route ending in '*' serves every path under its prefix (/api/tasks/*).
    for (auto it = routes.begin(); it != routes.end(); ++it) {
      std::string_view p = it->first;
      if (!p.empty() && p.back() == '*' && req.path.starts_with(p.substr(0, p.size() - 1))) {
        route = it;
        break;
      }
    }
  }
  if (route == routes.end()) return Reply(fd, plain(404, "not found\n"), head_only);
  const auto& methods = route->second.methods;
  bool allowed = false;
  std::string allow;
  for (const auto& m : methods) {
    allowed = allowed || m == req.method || (m == "GET" && head_only);
    allow += (allow.empty() ? "" : ", ") + m + (m == "GET" ? ", HEAD" : "");
  }
  if (!allowed) return Reply(fd, plain(405, "method not allowed\n"), false, allow);
  // Headers: "Name: value" lines, names lower-cased (the head is already bounded in size).
  for (size_t at = line_end + 2; at < end;) {
    size_t eol = head.find("\r\n", at);
    std::string_view h(head.data() + at, eol - at);
    at = eol + 2;
    size_t colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Reply(fd, plain(400, "bad header line\n"), false);
    }
    std::string name(h.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = h.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    req.headers.emplace_back(std::move(name), std::string(value));
  }
  if (int status = ReadBody(fd, head.substr(end + 4), deadline, req);
      status != 0) {
    return Reply(fd, plain(status, status == 408   ? "request not received in time\n"
                                   : status == 413 ? "request body too large\n"
                                                   : "bad request body\n"),
                 false);
  }
  Reply(fd, route->second.handler(req), head_only);
}

int HttpServer::State::ReadBody(int fd, std::string extra, int64_t deadline, HttpRequest& req) {
  if (!req.Header("transfer-encoding").empty()) return 400;  // chunked bodies: not taken
  std::string_view length_text = req.Header("content-length");
  size_t length = 0;
  if (!length_text.empty()) {
    auto [ptr, ec] =
        std::from_chars(length_text.data(), length_text.data() + length_text.size(), length);
    if (ec != std::errc() || ptr != length_text.data() + length_text.size()) return 400;
  }
  if (length > options.max_body_bytes) return 413;
  if (extra.size() > length) extra.resize(length);  // a pipelined request: never served
  req.body = std::move(extra);
  char buf[4096];
  while (req.body.size() < length) {
    int64_t left = deadline - NowMs();
    if (left <= 0) return 408;
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno != EINTR) return 400;
    if (ready <= 0) continue;
    ssize_t n = recv(fd, buf, std::min(sizeof buf, length - req.body.size()), 0);
    if (n == 0) return 400;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      return 400;
    }
    req.body.append(buf, static_cast<size_t>(n));
  }
  return 0;
}

}  // namespace taskmill
