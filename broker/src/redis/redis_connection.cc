#include "redis/redis_connection.h"

#include <hiredis/sds.h>
#include <poll.h>
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <memory>
#include <span>

#include "redis/master_locator.h"
#include "redis/resp_format.h"
#include "taskmill/shared/log.h"

namespace taskmill::broker {
namespace {

std::shared_ptr<spdlog::logger> Log() { return Logger("broker.redis"); }

ErrorCode CodeForRedisError(std::string_view msg) {
  auto starts = [&](std::string_view p) { return msg.starts_with(p); };
  if (starts("NOAUTH") || starts("WRONGPASS") || starts("NOPERM")) {
    return ErrorCode::kUnauthorized;
  }
  if (starts("LOADING") || starts("BUSY") || starts("MASTERDOWN") || starts("READONLY") ||
      starts("MISCONF") || starts("TRYAGAIN")) {
    return ErrorCode::kStoreUnavailable;
  }
  if (starts("OOM")) return ErrorCode::kStoreFull;
  return ErrorCode::kInternal;
}

// "TM_<CODE> message" from our scripts becomes {code, message}; anything else stays whole.
Error ErrorFromReply(std::string_view msg) {
  if (msg.starts_with("TM_")) {
    size_t space = msg.find(' ');
    std::string code(msg.substr(3, space == std::string_view::npos ? msg.npos : space - 3));
    std::transform(code.begin(), code.end(), code.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string text = space == std::string_view::npos ? "" : std::string(msg.substr(space + 1));
    return Error{ErrorCodeFromName(code), text};
  }
  ErrorCode code = CodeForRedisError(msg);
  if (code == ErrorCode::kStoreFull) {
    // Redis refuses a script at its first write, so nothing of the call was stored.
    return Error{code,
                 "Redis is full (used memory is over its maxmemory, and it evicts nothing): "
                 "nothing was stored; retry once memory is freed"};
  }
  return Error{code, "redis: " + std::string(msg)};
}

const std::string kEvalSha = "EVALSHA";
const std::string kEval = "EVAL";
const std::string kNoKeys = "0";

}  // namespace

// One command in flight; hiredis owns it as privdata until the reply callback.
struct RedisConnection::Pending {
  RedisConnection* conn = nullptr;
  Callback cb;
  int script = -1;                // Eval: script index, for the NOSCRIPT retry
  bool retried = false;           // true iff already re-sent as EVAL
  std::vector<std::string> args;  // Eval: the script's KEYS then ARGV, kept for the retry
  int num_keys = 0;               // Eval: how many of args are KEYS
  std::chrono::steady_clock::time_point sent{};  // when issued, with a round-trip observer
  bool gated = false;     // true iff the reply waits for the ReplicaGate's WAIT
  uint64_t wait_seq = 0;  // gated: the gate's WAIT that follows this command
};

RedisConnection::RedisConnection(RedisConfig config, RedisConnectionOptions options,
                                 const Clock& clock)
    : config_(std::move(config)), options_(options), clock_(clock) {}

RedisConnection::~RedisConnection() {
  destroying_ = true;
  state_ = State::kStopped;
  if (ac_ != nullptr) redisAsyncFree(ac_);
}

size_t RedisConnection::AddScript(std::string name, std::string body) {
  for (size_t i = 0; i < scripts_.size(); ++i) {
    if (scripts_[i].name == name && scripts_[i].body == body) return i;  // another Store
  }
  scripts_.push_back(Script{std::move(name), std::move(body), ""});
  if (state_ == State::kReady) {
    size_t i = scripts_.size() - 1;
    Command({"SCRIPT", "LOAD", scripts_[i].body}, [this, i](Result<const redisReply*> r) {
      if (r && (*r)->type == REDIS_REPLY_STRING) scripts_[i].sha.assign((*r)->str, (*r)->len);
    });
  }
  return scripts_.size() - 1;
}

void RedisConnection::Start() {
  if (state_ != State::kStopped) return;
  backoff_ms_ = options_.reconnect_min_ms;
  SetState(State::kDisconnected);
  Connect();
}

void RedisConnection::Stop() {
  SetState(State::kStopped);
  reconnect_at_ = -1;
  connect_deadline_ = -1;
  if (ac_ != nullptr) redisAsyncFree(ac_);
}

void RedisConnection::SetState(State s) {
  if (state_ == s) return;
  state_ = s;
  if (on_state_) on_state_(s);
}

void RedisConnection::Connect() {
  reconnect_at_ = -1;
  auto target = LocateRedis(config_, options_.discovery_timeout_ms);
  if (!target) {
    if (last_error_ != target.error().message) {
      Log()->warn("redis {}: {}", config_.Describe(), target.error().message);
    }
    last_error_ = target.error().message;
    OnContextGone();
    return;
  }
  if (config_.sentinel_mode() && node_ != target->Describe()) {
    Log()->info("redis {}: master is {}", config_.Describe(), target->Describe());
  }
  node_ = target->Describe();
  redisAsyncContext* ac = target->unix_path.empty()
                              ? redisAsyncConnect(target->host.c_str(), target->port)
                              : redisAsyncConnectUnix(target->unix_path.c_str());
  if (ac == nullptr || ac->err) {
    std::string why = ac == nullptr ? "out of memory" : ac->errstr;
    if (ac != nullptr) redisAsyncFree(ac);
    last_error_ = "connect to " + node_ + ": " + why;
    OnContextGone();
    return;
  }
  ac_ = ac;
  obuf_sent_ = 0;
  ac_->data = this;
  ac_->ev.data = this;
  ac_->ev.addRead = &EvAddRead;
  ac_->ev.delRead = &EvDelRead;
  ac_->ev.addWrite = &EvAddWrite;
  ac_->ev.delWrite = &EvDelWrite;
  ac_->ev.cleanup = &EvCleanup;
  redisAsyncSetConnectCallback(ac_, &OnConnect);
  // Reading is always wanted: that is how a closed socket shows up.
  want_read_ = true;
  SetState(State::kConnecting);
  connect_deadline_ = clock_.MonotonicMs() + options_.connect_timeout_ms;
  Handshake();
}

// AUTH, SELECT and SCRIPT LOAD are pipelined right behind the connect; the connection is
// ready once every one of them answered OK.
void RedisConnection::Handshake() {
  std::vector<std::pair<std::string, std::vector<std::string>>> steps;
  if (!config_.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!config_.username.empty()) auth.push_back(config_.username);
    auth.push_back(config_.password);
    steps.emplace_back("AUTH", std::move(auth));
  }
  if (config_.db != 0) {
    steps.emplace_back("SELECT", std::vector<std::string>{"SELECT", std::to_string(config_.db)});
  }
  steps.emplace_back("PING", std::vector<std::string>{"PING"});
  for (const Script& s : scripts_) {
    steps.emplace_back("SCRIPT LOAD " + s.name, std::vector<std::string>{"SCRIPT", "LOAD", s.body});
  }
  handshake_left_ = static_cast<int>(steps.size());
  redisAsyncContext* attempt = ac_;
  for (size_t i = 0; i < steps.size(); ++i) {
    auto* p = new Pending{this, nullptr, -1, false, {}, 0, {}, false, 0};
    std::string step = steps[i].first;
    const size_t first_script = steps.size() - scripts_.size();
    int script = i >= first_script ? static_cast<int>(i - first_script) : -1;
    p->cb = [this, attempt, step, script](Result<const redisReply*> r) {
      if (attempt != ac_ || state_ != State::kConnecting) return;  // an older attempt
      if (r && script >= 0) {
        if ((*r)->type != REDIS_REPLY_STRING) {
          r = MakeError(ErrorCode::kInternal, "SCRIPT LOAD did not return a sha");
        } else {
          scripts_[static_cast<size_t>(script)].sha.assign((*r)->str, (*r)->len);
        }
      }
      HandshakeStep(std::move(r), step);
    };
    if (!Send(p, steps[i].second)) {
      delete p;
      Fail("could not queue " + step);
      return;
    }
  }
}

void RedisConnection::HandshakeStep(Result<const redisReply*> r, const std::string& step) {
  if (!r) {
    Fail(step + " failed: " + r.error().message);
    return;
  }
  if (--handshake_left_ == 0) {
    connect_deadline_ = -1;
    backoff_ms_ = options_.reconnect_min_ms;
    if (!last_error_.empty()) Log()->info("redis {} is back", config_.Describe());
    last_error_.clear();
    SetState(State::kReady);
  }
}

void RedisConnection::Fail(const std::string& why) {
  last_error_ = why;
  Log()->warn("redis {}: {}", config_.Describe(), why);
  if (state_ != State::kStopped) SetState(State::kDisconnected);
  connect_deadline_ = -1;
  if (ac_ != nullptr) {
    redisAsyncFree(ac_);  // deferred by hiredis when inside one of its callbacks
  } else {
    OnContextGone();
  }
}

void RedisConnection::OnContextGone() {
  ac_ = nullptr;
  obuf_sent_ = 0;
  want_read_ = want_write_ = false;
  connect_deadline_ = -1;
  if (state_ == State::kStopped || destroying_) return;
  if (state_ == State::kReady) Log()->warn("redis {}: connection lost", config_.Describe());
  SetState(State::kDisconnected);
  reconnect_at_ = clock_.MonotonicMs() + backoff_ms_;
  backoff_ms_ = std::min(backoff_ms_ * 2, options_.reconnect_max_ms);
}

int RedisConnection::fd() const { return ac_ == nullptr ? -1 : ac_->c.fd; }

short RedisConnection::WantedEvents() const {
  if (ac_ == nullptr) return 0;
  return static_cast<short>((want_read_ ? ZMQ_POLLIN : 0) | (want_write_ ? ZMQ_POLLOUT : 0));
}

void RedisConnection::HandleEvents(short revents) {
  if (ac_ != nullptr && (revents & (ZMQ_POLLIN | ZMQ_POLLERR))) redisAsyncHandleRead(ac_);
  if (ac_ != nullptr && (revents & ZMQ_POLLOUT) && !WriteOutput()) redisAsyncHandleWrite(ac_);
}

// hiredis's own writer (redisBufferWrite) moves the unsent rest of its output buffer to the
// front after every partial write: a turn's multi-megabyte pipeline (big payloads) was
// copied once per ~200 KB the socket took, 20% of the broker's instructions at 100 KiB
// payloads. Here a large buffer is written from an offset and compacted once 1 MiB or more
// than half of it is sent, so it moves once per MiB, not once per write. The last
// kHiredisTail bytes are left to hiredis, which then frees the (large) buffer as it always
// did; so is an error: hiredis writes again, meets it and disconnects.
bool RedisConnection::WriteOutput() {
  constexpr size_t kHiredisTail = 64 * 1024;
  constexpr size_t kCompactAt = 1 << 20;  // sent bytes kept at most: bounds the memory
  redisContext* c = &ac_->c;
  if (!(c->flags & REDIS_CONNECTED) || c->obuf == nullptr) return false;
  size_t len = sdslen(c->obuf);
  if (len - obuf_sent_ <= kHiredisTail && obuf_sent_ == 0) return false;
  bool failed = false;
  while (len - obuf_sent_ > kHiredisTail) {
    ssize_t n = write(c->fd, c->obuf + obuf_sent_, len - obuf_sent_ - kHiredisTail);
    if (n > 0) {
      obuf_sent_ += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      failed = !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
      break;
    }
  }
  bool tail = len - obuf_sent_ <= kHiredisTail;
  if (failed || tail || obuf_sent_ >= kCompactAt || obuf_sent_ > len / 2) {
    // Drop what is sent: the unsent rest moves to the front. Only sds.h's inline functions
    // are used: its others lack C linkage in hiredis 0.14's header.
    std::memmove(c->obuf, c->obuf + obuf_sent_, len - obuf_sent_);
    sdssetlen(c->obuf, len - obuf_sent_);
    c->obuf[len - obuf_sent_] = '\0';
    obuf_sent_ = 0;
  }
  if (failed || tail) return false;  // hiredis writes the tail (or meets the error)
  want_read_ = true;
  return true;
}

int64_t RedisConnection::NextTimerMs() const {
  if (state_ == State::kConnecting) return connect_deadline_;
  if (state_ == State::kDisconnected) return reconnect_at_;
  return -1;
}

void RedisConnection::Tick(int64_t now_ms) {
  if (state_ == State::kConnecting && connect_deadline_ >= 0 && now_ms >= connect_deadline_) {
    Fail("no answer within " + std::to_string(options_.connect_timeout_ms) + " ms");
  } else if (state_ == State::kDisconnected && ac_ == nullptr && reconnect_at_ >= 0 &&
             now_ms >= reconnect_at_) {
    Connect();
  }
}

bool RedisConnection::Send(Pending* p, const std::vector<std::string>& args) {
  if (ac_ == nullptr) return false;
  std::string cmd = FormatCommand(args);
  if (redisAsyncFormattedCommand(ac_, &OnReply, p, cmd.data(), cmd.size()) != REDIS_OK) {
    return false;
  }
  Written(*p);
  return true;
}

void RedisConnection::Written(Pending& p) {
  if (on_round_trip_) p.sent = std::chrono::steady_clock::now();
  if (p.gated && gate_ != nullptr) {
    p.wait_seq = gate_->NextWait();
    gate_->NoteSent(*this);
  }
  ++in_flight_;
}

void RedisConnection::Command(const std::vector<std::string>& args, Callback cb) {
  SendCommand(args, std::move(cb), gate_ != nullptr);
}

void RedisConnection::CommandUngated(const std::vector<std::string>& args, Callback cb) {
  SendCommand(args, std::move(cb), false);
}

void RedisConnection::SendCommand(const std::vector<std::string>& args, Callback cb,
                                  bool gated) {
  if (state_ != State::kReady) {
    cb(MakeError(ErrorCode::kStoreUnavailable, "redis is unreachable: " + last_error_));
    return;
  }
  auto p =
      std::make_unique<Pending>(Pending{this, std::move(cb), -1, false, {}, 0, {}, gated, 0});
  if (Send(p.get(), args)) {
    p.release();  // hiredis owns it until OnReply
  } else {
    p->cb(MakeError(ErrorCode::kStoreUnavailable, "redis connection is closing"));
  }
}

void RedisConnection::Subscribe(const std::vector<std::string>& channels,
                                MessageHandler on_message) {
  if (state_ != State::kReady || ac_ == nullptr || channels.empty()) return;
  on_message_ = std::move(on_message);
  std::vector<std::string> args{"SUBSCRIBE"};
  args.insert(args.end(), channels.begin(), channels.end());
  std::string cmd = FormatCommand(args);
  // hiredis keeps this callback per channel and calls it for every message; privdata is the
  // connection itself, never freed per reply (unlike Pending).
  if (redisAsyncFormattedCommand(ac_, &OnPush, this, cmd.data(), cmd.size()) != REDIS_OK) {
    Fail("could not queue SUBSCRIBE");
  }
}

void RedisConnection::OnPush(redisAsyncContext* /*ac*/, void* r, void* privdata) {
  auto* self = static_cast<RedisConnection*>(privdata);
  // Null: the connection is going (hiredis flushes the subscription callbacks).
  if (self->destroying_ || r == nullptr || !self->on_message_) return;
  self->on_message_(static_cast<const redisReply*>(r));
}

void RedisConnection::Eval(size_t script, std::vector<std::string> args, Callback cb,
                           int num_keys) {
  if (state_ != State::kReady) {
    cb(MakeError(ErrorCode::kStoreUnavailable, "redis is unreachable: " + last_error_));
    return;
  }
  if (script >= scripts_.size()) {
    cb(MakeError(ErrorCode::kInternal, "unknown script handle " + std::to_string(script)));
    return;
  }
  SendEval(std::make_unique<Pending>(Pending{this, std::move(cb), static_cast<int>(script), false,
                                             std::move(args), num_keys, {}, gate_ != nullptr, 0}));
}

void RedisConnection::SendEval(std::unique_ptr<Pending> p) {
  const Script& s = scripts_[static_cast<size_t>(p->script)];
  // Argv pointers into the strings themselves: the (large) args are never copied, and stay
  // alive in Pending in case NOSCRIPT needs a resend.
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(p->args.size() + 3);
  lens.reserve(p->args.size() + 3);
  bool by_sha = !s.sha.empty() && !p->retried;
  if (!by_sha) p->retried = true;
  const std::string& head = by_sha ? s.sha : s.body;
  argv.push_back(by_sha ? kEvalSha.c_str() : kEval.c_str());
  lens.push_back(by_sha ? kEvalSha.size() : kEval.size());
  argv.push_back(head.data());
  lens.push_back(head.size());
  const std::string num_keys = p->num_keys == 0 ? kNoKeys : std::to_string(p->num_keys);
  argv.push_back(num_keys.data());
  lens.push_back(num_keys.size());
  for (const auto& a : p->args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  std::string cmd = ac_ != nullptr ? FormatCommand(argv, lens) : std::string();
  if (ac_ != nullptr &&
      redisAsyncFormattedCommand(ac_, &OnReply, p.get(), cmd.data(), cmd.size()) == REDIS_OK) {
    Written(*p);
    p.release();  // hiredis owns it until OnReply
  } else {
    p->cb(MakeError(ErrorCode::kStoreUnavailable, "redis connection is closing"));
  }
}

void RedisConnection::OnReply(redisAsyncContext* /*ac*/, void* r, void* privdata) {
  std::unique_ptr<Pending> p(static_cast<Pending*>(privdata));
  RedisConnection* self = p->conn;
  --self->in_flight_;
  if (self->destroying_) return;
  auto* reply = static_cast<redisReply*>(r);
  if (reply == nullptr) {
    p->cb(MakeError(ErrorCode::kStoreUnavailable, "redis connection lost"));
    return;
  }
  if (self->on_round_trip_ && p->sent != std::chrono::steady_clock::time_point{}) {
    self->on_round_trip_(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - p->sent).count());
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    std::string_view msg(reply->str, reply->len);
    if (p->script >= 0 && !p->retried && msg.starts_with("NOSCRIPT")) {
      // The server lost its script cache (SCRIPT FLUSH): EVAL the body once, which caches
      // it again under the same sha, so later calls go back to EVALSHA.
      Log()->info("redis: script {} was not loaded; sending its body",
                  self->scripts_[static_cast<size_t>(p->script)].name);
      p->retried = true;
      self->SendEval(std::move(p));
      return;
    }
    Error error = ErrorFromReply(msg);
    bool find_master = self->config_.sentinel_mode() && MeansFindMasterAgain(msg) &&
                       self->state_ == State::kReady;
    // Nothing was stored: an error needs no WAIT.
    p->cb(std::unexpected(std::move(error)));
    if (find_master) {
      // A demoted master (or one still loading): drop it; the next attempt asks Sentinel.
      self->Fail("node " + self->node_ + " answered " + std::string(msg.substr(0, 40)) +
                 ": finding the master again");
    }
    return;
  }
  if (p->gated && self->gate_ != nullptr) {
    self->gate_->Hold(*self, p->wait_seq, std::move(p->cb), reply);
    return;
  }
  p->cb(reply);
}

void RedisConnection::OnConnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisConnection*>(ac->data);
  if (status != REDIS_OK) {
    self->last_error_ = "connect to " + self->config_.Describe() + ": " +
                        (ac->errstr != nullptr ? ac->errstr : "failed");
    Log()->warn("redis {}", self->last_error_);
    // hiredis frees the context right after this callback; EvCleanup follows.
  }
}

void RedisConnection::EvAddRead(void* data) {
  static_cast<RedisConnection*>(data)->want_read_ = true;
}
void RedisConnection::EvDelRead(void* data) {
  static_cast<RedisConnection*>(data)->want_read_ = false;
}
void RedisConnection::EvAddWrite(void* data) {
  static_cast<RedisConnection*>(data)->want_write_ = true;
}
void RedisConnection::EvDelWrite(void* data) {
  static_cast<RedisConnection*>(data)->want_write_ = false;
}

void RedisConnection::EvCleanup(void* data) {
  auto* self = static_cast<RedisConnection*>(data);
  if (self->ac_ != nullptr && self->ac_->err && self->last_error_.empty()) {
    self->last_error_ = self->ac_->errstr;
  }
  self->OnContextGone();
}

bool RunUntil(RedisConnection& conn, const std::function<bool()>& pred, int64_t timeout_ms) {
  const Clock& clock = SystemClock::Instance();
  const int64_t deadline = clock.MonotonicMs() + timeout_ms;
  while (!pred()) {
    int64_t now = clock.MonotonicMs();
    if (now >= deadline) return false;
    conn.Tick(now);
    if (pred()) return true;
    int64_t wait = deadline - now;
    if (int64_t t = conn.NextTimerMs(); t >= 0) {
      wait = std::min(wait, std::max<int64_t>(t - now, 0));
    }
    pollfd pfd{conn.fd(), 0, 0};
    short want = conn.WantedEvents();
    if (want & ZMQ_POLLIN) pfd.events |= POLLIN;
    if (want & ZMQ_POLLOUT) pfd.events |= POLLOUT;
    int n = poll(&pfd, pfd.fd >= 0 ? 1 : 0, static_cast<int>(wait));
    if (n > 0) {
      short rev = 0;
      if (pfd.revents & (POLLIN | POLLHUP)) rev |= ZMQ_POLLIN;
      if (pfd.revents & POLLOUT) rev |= ZMQ_POLLOUT;
      if (pfd.revents & POLLERR) rev |= ZMQ_POLLERR;
      conn.HandleEvents(rev);
    }
  }
  return true;
}

}  // namespace taskmill::broker
