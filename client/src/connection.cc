#include "connection.h"

#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "taskmill/shared/backoff.h"
#include "taskmill/shared/log.h"

namespace taskmill::client {
namespace {

// Said when nothing ever answered: most often no broker, or a client pointed at the
// broker's worker port (which drops client requests without a reply).
constexpr const char* kNoAnswerHint =
    "is a broker running there, and is this its client port? Its worker port (5556 by "
    "default) never answers clients";

auto Log() {
  static auto log = Logger("client");
  return log;
}

constexpr size_t kMaxParts = 8;         // a longer message is read to its end and dropped
constexpr int kMaxReadsPerTurn = 1000;  // so expiry and sends are never starved
constexpr int64_t kMaxPollMs = 1000;
// How long the I/O thread leaves the socket to callers once one drives it before it looks
// whether the socket is free again (doubling from the first to the last while it is not):
// back-to-back calls then cost it no wake-up each (they would compete with the caller for
// the same cores), and what arrives between them for nobody in particular (an event, a
// push no caller waits for yet) is read at most kLastParkMs later. A driver that held the
// socket longer than that wakes it when it leaves.
constexpr int64_t kFirstParkMs = 1;
constexpr int64_t kLastParkMs = 8;


void Poke(int event_fd) {
  uint64_t one = 1;
  if (event_fd >= 0) (void)!write(event_fd, &one, sizeof one);
}

void Drain(int event_fd) {
  uint64_t count;
  (void)!read(event_fd, &count, sizeof count);
}

// A libzmq socket handle, closed on destruction. The C API is used so that no exception
// can leave this file; the I/O thread creates and closes it (callers may drive it between).
class Socket {
 public:
  Socket(void* context, int type) : handle_(zmq_socket(context, type)) {}
  ~Socket() {
    if (handle_ == nullptr) return;
    int zero = 0;
    zmq_setsockopt(handle_, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(handle_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  void* get() const { return handle_; }
  bool SetInt(int option, int value) {
    return zmq_setsockopt(handle_, option, &value, sizeof value) == 0;
  }

 private:
  void* handle_;
};

}  // namespace

// Reads one whole message without blocking; false when none is waiting.
bool RecvParts(void* socket, std::vector<std::string>& parts, bool& too_many) {
  parts.clear();
  too_many = false;
  while (true) {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    int flags = parts.empty() && !too_many ? ZMQ_DONTWAIT : 0;
    if (zmq_msg_recv(&msg, socket, flags) < 0) {
      zmq_msg_close(&msg);
      return false;
    }
    if (parts.size() < kMaxParts) {
      parts.emplace_back(static_cast<const char*>(zmq_msg_data(&msg)), zmq_msg_size(&msg));
    } else {
      too_many = true;
    }
    bool more = zmq_msg_more(&msg) != 0;
    zmq_msg_close(&msg);
    if (!more) return true;
  }
}

std::string ZmqErrorText() { return zmq_strerror(zmq_errno()); }

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Result<std::shared_ptr<Connection>> Connection::Open(const ClientOptions& options,
                                                     bool monitor_held) {
  if (options.endpoint.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "endpoint: must not be empty");
  }
  if (options.request_timeout_ms == 0) {
    return MakeError(ErrorCode::kInvalidArgument, "request_timeout_ms: must be at least 1");
  }
  auto ring = EndpointRing::Parse(options.endpoint);
  if (!ring) return std::unexpected(ring.error());
  auto curve = LoadCurveClientKeys(options.curve_server_key, options.curve_key_file);
  if (!curve) return std::unexpected(curve.error());
  std::shared_ptr<Connection> c(new Connection(options));
  c->monitor_held_.store(monitor_held);
  c->curve_ = std::move(*curve);
  c->ring_.emplace(std::move(*ring));
  c->endpoint_now_ = c->ring_->current();
  c->context_ = zmq_ctx_new();
  if (c->context_ == nullptr) {
    return MakeError(ErrorCode::kInternal, "zmq_ctx_new: " + ZmqErrorText());
  }
  // One libzmq I/O thread (its default, made explicit): it runs the sessions' commands in
  // order, which the move between brokers relies on (see DetachLeftPipes).
  zmq_ctx_set(c->context_, ZMQ_IO_THREADS, 1);
  c->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  c->yield_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (c->wake_fd_ < 0 || c->yield_fd_ < 0) {
    return MakeError(ErrorCode::kInternal, std::string("eventfd: ") + std::strerror(errno));
  }
  std::promise<Result<void>> started;
  auto started_future = started.get_future();
  c->io_thread_ =
      std::thread([raw = c.get(), p = std::move(started)]() mutable { raw->Run(std::move(p)); });
  auto ok = started_future.get();
  if (!ok) {
    c->Stop();
    return std::unexpected(ok.error());
  }
  c->callback_thread_ = std::thread([raw = c.get()] { raw->RunCallbacks(); });
  {
    std::lock_guard lock(c->cb_mu_);
    c->callback_thread_id_ = c->callback_thread_.get_id();
  }
  return c;
}

Connection::~Connection() {
  Stop();
  if (wake_fd_ >= 0) close(wake_fd_);
  if (yield_fd_ >= 0) close(yield_fd_);
  if (context_ != nullptr) zmq_ctx_term(context_);
}

void Connection::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  Wake();
  if (io_thread_.joinable()) io_thread_.join();
  {
    std::lock_guard lock(cb_mu_);
    cb_stopping_ = true;
  }
  cb_cv_.notify_all();
  if (callback_thread_.joinable()) callback_thread_.join();
  // Requests queued after the I/O thread took its last look.
  std::deque<Request> left;
  {
    std::lock_guard lock(mu_);
    left.swap(outbox_);
  }
  for (auto& r : left) {
    Finish(r, MakeError(ErrorCode::kBrokerUnavailable, "the client is closed"));
  }
}

void Connection::Wake() { Poke(wake_fd_); }

void Connection::HoldMonitorForTest(bool hold) {
  monitor_held_.store(hold);
  Wake();  // the next turn polls the monitor, or stops polling it
}

void Connection::Enqueue(Request request) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      outbox_.push_back(std::move(request));
      request.promise.reset();
    }
  }
  if (request.promise) {
    Finish(request, MakeError(ErrorCode::kBrokerUnavailable, "the client is closed"));
    return;
  }
  Wake();
}

Connection::Request Connection::MakeRequest(protocol::Message message, uint32_t timeout_ms) {
  Request r;
  r.req_id = next_req_id_.fetch_add(1);
  if (auto* submit = std::get_if<protocol::Submit>(&message)) r.notify = submit->notify;
  std::visit(
      [&](auto& m) {
        if constexpr (requires { m.req_id; }) m.req_id = r.req_id;
      },
      message);
  r.frames = protocol::Encode(message);
  r.timeout_ms = timeout_ms;
  r.deadline_ms = SteadyMs() + timeout_ms;
  r.promise.emplace();
  return r;
}

Connection::Pending Connection::Send(protocol::Message message, uint32_t timeout_ms) {
  Request r = MakeRequest(std::move(message), timeout_ms);
  Pending pending{r.promise->get_future(), r.deadline_ms, timeout_ms};
  Enqueue(std::move(r));
  return pending;
}

Result<protocol::Reply> Connection::Await(Pending pending) {
  // The I/O thread answers by the deadline; the margin only guards against a bug there,
  // so that a call can never hang.
  auto until = std::chrono::steady_clock::time_point(
      std::chrono::milliseconds(pending.deadline_ms + 2000));
  if (pending.reply.wait_until(until) != std::future_status::ready) {
    return MakeError(ErrorCode::kTimeout, "no answer within " +
                                              std::to_string(pending.timeout_ms) +
                                              " ms (the client's I/O thread is stuck)");
  }
  return pending.reply.get();
}

Result<protocol::Reply> Connection::Call(protocol::Message message, uint32_t timeout_ms) {
  std::optional<Request> r = MakeRequest(std::move(message), timeout_ms);
  Pending pending{r->promise->get_future(), r->deadline_ms, timeout_ms};
  auto answered = [&] {
    return pending.reply.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  };
  Drive(&r, answered, pending.deadline_ms);
  if (r) Enqueue(std::move(*r));  // another thread serves the socket: it sends this one
  return Await(std::move(pending));
}

ResultTable::Awaited Connection::AwaitResults(const std::vector<std::string>& ids,
                                              int64_t deadline_ms) {
  return results_.Await(ids, deadline_ms, [&](const std::function<bool()>& done) {
    Drive(nullptr, done, deadline_ms);
  });
}

bool Connection::Readable(void* dealer) const {
  int events = 0;
  size_t size = sizeof events;
  return zmq_getsockopt(dealer, ZMQ_EVENTS, &events, &size) == 0 && (events & ZMQ_POLLIN) != 0;
}

void Connection::Drive(std::optional<Request>* send, const std::function<bool()>& done,
                       int64_t deadline_ms) {
  if (yield_wanted_.load() > 0) return;
  std::unique_lock io(io_mu_, std::defer_lock);
  if (!io.try_lock()) {
    // Another caller reads the socket: it, or the I/O thread, delivers what comes for us.
    if (driving_.load()) return;
    // The I/O thread's turn, which is short; a driver slipping in first yields to us.
    ++yield_wanted_;
    Poke(yield_fd_);
    io.lock();
    --yield_wanted_;
  }
  if (dealer_ == nullptr) return;
  void* dealer = dealer_;
  driving_.store(true);
  int64_t started_ms = SteadyMs();
  if (send != nullptr) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) {
        driving_.store(false);
        return;  // Enqueue refuses it
      }
    }
    backlog_.push_back(std::move(**send));
    send->reset();
    FlushBacklog(dealer);
  }
  // Not sent (no live connection yet): the I/O thread sends it once one is up.
  bool wait_here = backlog_.empty();
  while (wait_here) {
    ReadReplies(dealer);
    if (done()) break;
    // A GOAWAY moved the unanswered requests back here. The next link is not up yet (or
    // waits for a redial): leave the socket to the I/O thread, which watches the link's
    // events and timers, and wait as usual.
    if (!backlog_.empty()) FlushBacklog(dealer);
    if (!backlog_.empty() || redial_at_ms_ != 0) break;
    int64_t now = SteadyMs();
    if (now >= deadline_ms) {
      ExpireRequests(now);
      break;
    }
    if (yield_wanted_.load() > 0) break;
    zmq_pollitem_t items[2] = {{dealer, 0, ZMQ_POLLIN, 0}, {nullptr, yield_fd_, ZMQ_POLLIN, 0}};
    long wait_ms = static_cast<long>(std::min(deadline_ms - now, kMaxPollMs));
    if (zmq_poll(items, 2, wait_ms) < 0 && zmq_errno() != EINTR) {
      Log()->warn("zmq_poll: {}", ZmqErrorText());
      break;
    }
    if (items[1].revents & ZMQ_POLLIN) Drain(yield_fd_);
  }
  // The I/O thread polls the socket's ZMQ_FD, which only signals what arrives from now on:
  // whatever is left to read, or to send, is its job now.
  // Also left to it: a request still unanswered (this caller yielded), whose deadline the
  // I/O thread has not seen yet.
  bool left = !backlog_.empty() || Readable(dealer) || !done();
  driving_.store(false);
  io.unlock();
  // A parked I/O thread is not woken otherwise: it looks again within kLastParkMs.
  if (left || SteadyMs() - started_ms >= kLastParkMs) Wake();
}

void Connection::Finish(Request& request, Result<protocol::Reply> result) {
  if (request.promise) {
    request.promise->set_value(std::move(result));
    request.promise.reset();
  }
}

uint64_t Connection::AddSubscription(const std::string& batch_id, EventCallback callback) {
  std::lock_guard lock(cb_mu_);
  uint64_t id = next_sub_id_++;
  subs_[id] = Sub{batch_id, std::make_shared<EventCallback>(std::move(callback)), {}};
  return id;
}

uint64_t Connection::AddTaskProgress(const std::vector<std::string>& task_ids,
                                     EventCallback callback) {
  std::lock_guard lock(cb_mu_);
  uint64_t id = next_sub_id_++;
  subs_[id] = Sub{"", std::make_shared<EventCallback>(std::move(callback)),
                  std::set<std::string>(task_ids.begin(), task_ids.end())};
  return id;
}

void Connection::RemoveSubscription(uint64_t id, bool tell_broker) {
  std::string batch_id;
  bool last = false;
  {
    std::unique_lock lock(cb_mu_);
    auto it = subs_.find(id);
    if (it == subs_.end()) return;
    batch_id = it->second.batch_id;
    subs_.erase(it);
    last = std::none_of(subs_.begin(), subs_.end(),
                        [&](const auto& s) { return s.second.batch_id == batch_id; });
    if (std::this_thread::get_id() != callback_thread_id_) {
      cb_cv_.wait(lock, [&] { return running_sub_ != id; });
    }
  }
  if (!last || !tell_broker || batch_id.empty()) return;
  protocol::Subscribe unsubscribe;
  unsubscribe.batch_id = batch_id;
  unsubscribe.unsubscribe = true;
  Request r = MakeRequest(std::move(unsubscribe), options_.request_timeout_ms);
  r.promise.reset();  // fire and forget: its reply is dropped
  Enqueue(std::move(r));
}

void Connection::RunCallbacks() {
  std::unique_lock lock(cb_mu_);
  while (true) {
    cb_cv_.wait(lock, [&] { return cb_stopping_ || !events_.empty(); });
    if (cb_stopping_) return;
    protocol::Event event = std::move(events_.front());
    events_.pop_front();
    std::vector<uint64_t> ids;
    for (const auto& [id, sub] : subs_) {
      if (sub.batch_id == event.batch_id &&
          (!sub.batch_id.empty() || sub.tasks.contains(event.task_id))) {
        ids.push_back(id);
      }
    }
    for (uint64_t id : ids) {
      auto it = subs_.find(id);  // an earlier callback may have cancelled this one
      if (it == subs_.end()) continue;
      auto callback = it->second.callback;
      running_sub_ = id;
      lock.unlock();
      try {
        (*callback)(event);
      } catch (const std::exception& e) {
        Log()->warn("event callback for batch {} threw: {}", event.batch_id, e.what());
      } catch (...) {
        Log()->warn("event callback for batch {} threw", event.batch_id);
      }
      lock.lock();
      running_sub_ = 0;
      cb_cv_.notify_all();
    }
  }
}

void Connection::Run(std::promise<Result<void>> started) {
  Socket dealer(context_, ZMQ_DEALER);
  Socket monitor(context_, ZMQ_PAIR);
  if (dealer.get() == nullptr || monitor.get() == nullptr) {
    started.set_value(MakeError(ErrorCode::kInternal, "zmq_socket: " + ZmqErrorText()));
    return;
  }
  // Immediate: a request is only queued on a live connection, so one the broker never
  // received expires as kBrokerUnavailable instead of being delivered much later.
  dealer.SetInt(ZMQ_IMMEDIATE, 1);
  dealer.SetInt(ZMQ_LINGER, 0);
  if (options_.heartbeat_ms > 0) {
    // A silent broker (host gone, no FIN) is dropped after 3 intervals: DISCONNECTED, then a
    // move when there is another endpoint. TTL: the broker drops us just as fast.
    dealer.SetInt(ZMQ_HEARTBEAT_IVL, static_cast<int>(options_.heartbeat_ms));
    dealer.SetInt(ZMQ_HEARTBEAT_TIMEOUT, static_cast<int>(options_.heartbeat_ms) * 3);
    dealer.SetInt(ZMQ_HEARTBEAT_TTL, static_cast<int>(options_.heartbeat_ms) * 3);
  }
  if (curve_) {
    if (auto r = ApplyCurveClient(dealer.get(), *curve_); !r) {
      started.set_value(std::unexpected(r.error()));
      return;
    }
  }
  std::string monitor_endpoint =
      "inproc://taskmill-client-monitor-" + std::to_string(reinterpret_cast<uintptr_t>(this));
  if (zmq_socket_monitor(dealer.get(), monitor_endpoint.c_str(),
                         ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                             ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                             ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0 ||
      zmq_connect(monitor.get(), monitor_endpoint.c_str()) != 0) {
    started.set_value(MakeError(ErrorCode::kInternal, "zmq_socket_monitor: " + ZmqErrorText()));
    return;
  }
  // Only the current endpoint is connected; the others' syntax was checked by Open.
  if (zmq_connect(dealer.get(), ring_->current().c_str()) != 0) {
    started.set_value(MakeError(ErrorCode::kInvalidArgument, "cannot connect to '" +
                                                                 ring_->current() +
                                                                 "': " + ZmqErrorText()));
    zmq_socket_monitor(dealer.get(), nullptr, 0);
    return;
  }
  connected_ = ring_->current();
  int socket_fd = -1;
  size_t fd_size = sizeof socket_fd;
  if (zmq_getsockopt(dealer.get(), ZMQ_FD, &socket_fd, &fd_size) != 0) {
    started.set_value(MakeError(ErrorCode::kInternal, "ZMQ_FD: " + ZmqErrorText()));
    zmq_socket_monitor(dealer.get(), nullptr, 0);
    return;
  }
  {
    std::lock_guard io(io_mu_);
    dealer_ = dealer.get();
  }
  started.set_value({});

  // The DEALER is polled through its ZMQ_FD, a plain descriptor, so that this thread never
  // touches the socket while waiting: a caller may take io_mu_ meanwhile and drive it.
  int64_t wait_ms = 0;
  int64_t due_ms = 0;  // steady ms of the next deadline or redial, as of the last turn
  bool parked = false;  // a driver holds the socket: do not watch its ZMQ_FD for a while
  int64_t park_ms = kFirstParkMs;
  std::unique_lock io(io_mu_, std::defer_lock);
  while (true) {
    // The wake-up fd, the monitor (unless a test holds it) and the socket (unless parked).
    zmq_pollitem_t items[3];
    int polled = 0;
    items[polled++] = {nullptr, wake_fd_, ZMQ_POLLIN, 0};
    zmq_pollitem_t* monitor_item = nullptr;
    if (!monitor_held_.load()) {
      monitor_item = &items[polled];
      items[polled++] = {monitor.get(), 0, ZMQ_POLLIN, 0};
    }
    if (!parked) items[polled++] = {nullptr, socket_fd, ZMQ_POLLIN, 0};
    if (zmq_poll(items, polled, static_cast<long>(wait_ms)) < 0 && zmq_errno() != EINTR) {
      Log()->error("zmq_poll: {}", ZmqErrorText());
      io.lock();
      break;
    }
    if (items[0].revents & ZMQ_POLLIN) Drain(wake_fd_);
    int64_t now = SteadyMs();
    const bool monitor_ready = monitor_item != nullptr && (monitor_item->revents & ZMQ_POLLIN);
    bool urgent = monitor_ready || now >= due_ms;
    if (!urgent) {
      std::lock_guard lock(mu_);
      urgent = stopping_ || !outbox_.empty();
    }
    if (!io.try_lock()) {
      if (!urgent) {
        // Only the socket stirred, and a driver reads it: stop watching the socket (its
        // traffic is the driver's) and look again soon, or when woken.
        parked = true;
        wait_ms = std::clamp<int64_t>(due_ms - now, 0, park_ms);
        park_ms = std::min(park_ms * 2, kLastParkMs);
        continue;
      } else {
        ++yield_wanted_;
        Poke(yield_fd_);
        io.lock();
        --yield_wanted_;
      }
    }
    parked = false;
    park_ms = kFirstParkMs;
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
      while (!outbox_.empty()) {
        backlog_.push_back(std::move(outbox_.front()));
        outbox_.pop_front();
      }
    }
    if (monitor_ready) ReadMonitor(monitor.get(), dealer.get());
    ReadReplies(dealer.get());
    FlushBacklog(dealer.get());
    now = SteadyMs();
    Redial(dealer.get(), now);
    ExpireRequests(now);
    due_ms = NextDeadline();
    wait_ms = Readable(dealer.get()) ? 0 : std::clamp<int64_t>(due_ms - now, 0, kMaxPollMs);
    io.unlock();
  }

  // io_mu_ is held: no driver can start on the socket about to close.
  dealer_ = nullptr;
  zmq_socket_monitor(dealer.get(), nullptr, 0);
  for (auto& r : backlog_) {
    Finish(r, MakeError(ErrorCode::kBrokerUnavailable, "the client is closed"));
  }
  backlog_.clear();
  for (auto& [id, r] : in_flight_) {
    Finish(r, MakeError(ErrorCode::kBrokerUnavailable, "the client is closed"));
  }
  in_flight_.clear();
}

void Connection::FlushBacklog(void* dealer) {
  if (awaiting_handshake_) return;
  while (!backlog_.empty()) {
    Request& r = backlog_.front();
    const std::string* parts[3] = {&r.frames.version, &r.frames.command, &r.frames.body};
    bool accepted = true;
    for (int i = 0; i < 3 && accepted; ++i) {
      // Only the first frame can meet a missing connection or a full pipe; once it is
      // accepted, the rest of the message is accepted with it.
      int flags = (i < 2 ? ZMQ_SNDMORE : 0) | (i == 0 ? ZMQ_DONTWAIT : 0);
      if (zmq_send(dealer, parts[i]->data(), parts[i]->size(), flags) < 0) {
        if (zmq_errno() != EAGAIN) {
          Log()->warn("send: {}", ZmqErrorText());
        }
        accepted = false;
      }
    }
    if (!accepted) return;
    r.sent = true;
    uint64_t id = r.req_id;
    in_flight_.emplace(id, std::move(r));
    backlog_.pop_front();
  }
}

void Connection::ReadReplies(void* dealer) {
  std::vector<std::string> parts;
  bool too_many = false;
  for (int n = 0; n < kMaxReadsPerTurn && RecvParts(dealer, parts, too_many); ++n) {
    if (too_many) {
      Log()->debug("dropped a broker message with more than {} frames", kMaxParts);
      continue;
    }
    std::vector<std::string_view> views(parts.begin(), parts.end());
    auto msg = protocol::Decode(views);
    if (!msg) {
      Log()->debug("dropped an undecodable broker message: {}", msg.error().ToString());
      continue;
    }
    heard_from_broker_ = true;
    if (auto* reply = std::get_if<protocol::Reply>(&*msg)) {
      auto it = in_flight_.find(reply->req_id);
      if (it == in_flight_.end()) {
        // A late reply to an expired request, a renewal, or req_id 0 (the broker could not
        // decode a request, which our encoder should make impossible).
        if (reply->req_id == 0 && reply->error) {
          Log()->warn("broker refused a request: {}: {}", reply->error->code,
                      reply->error->message);
        }
        continue;
      }
      // Registered here, by the one reader of the DEALER, before the pushes that follow.
      if (it->second.notify && !reply->error) results_.Expect(reply->ids);
      Finish(it->second, std::move(*reply));
      in_flight_.erase(it);
    } else if (auto* event = std::get_if<protocol::Event>(&*msg)) {
      {
        std::lock_guard lock(cb_mu_);
        events_.push_back(std::move(*event));
      }
      cb_cv_.notify_all();
    } else if (auto* result = std::get_if<protocol::ResultMsg>(&*msg)) {
      results_.OnResult(std::move(result->task));
    } else if (auto* goaway = std::get_if<protocol::Goaway>(&*msg)) {
      // Replies read before it stand; everything unanswered goes to the next broker.
      MoveBroker(dealer, "the broker said GOAWAY" +
                             (goaway->reason.empty() ? std::string() : " (" + goaway->reason + ")"));
      return;  // what follows on the old pipe is not ours to read
    }
  }
}

void Connection::ExpireRequests(int64_t now_ms) {
  // A request still in the backlog was never accepted by a live connection.
  for (auto it = backlog_.begin(); it != backlog_.end();) {
    if (it->deadline_ms > now_ms) {
      ++it;
      continue;
    }
    if (!handshake_failure_.empty()) {
      Finish(*it, MakeError(ErrorCode::kUnauthorized, handshake_failure_));
    } else {
      Finish(*it, MakeError(ErrorCode::kBrokerUnavailable,
                            "could not reach a broker at " + ring_->current() + " within " +
                                std::to_string(it->timeout_ms) + " ms"));
    }
    it = backlog_.erase(it);
  }
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (it->second.deadline_ms > now_ms) {
      ++it;
      continue;
    }
    auto& r = it->second;
    std::string after = " within " + std::to_string(r.timeout_ms) + " ms";
    if (heard_from_broker_) {
      Finish(r, MakeError(ErrorCode::kTimeout, "no reply from the broker" + after));
    } else {
      Finish(r, MakeError(ErrorCode::kBrokerUnavailable,
                          "the broker at " + ring_->current() + " did not answer" + after +
                              " (" + kNoAnswerHint + ")"));
    }
    it = in_flight_.erase(it);
  }
}

int64_t Connection::NextDeadline() const {
  int64_t next = INT64_MAX;  // nothing due: the poll still wakes every kMaxPollMs
  if (redial_at_ms_ != 0) next = std::min(next, redial_at_ms_);
  for (const auto& r : backlog_) next = std::min(next, r.deadline_ms);
  for (const auto& [id, r] : in_flight_) next = std::min(next, r.deadline_ms);
  return next;
}

}  // namespace taskmill::client
