// The broker link half of IoLoop: the DEALER socket, its outbox and reconnects.

#include <algorithm>
#include <cstring>
#include <optional>
#include <random>

#include "io_loop.h"
#include "taskmill/shared/ids.h"
#include "taskmill/shared/protocol/codec.h"

namespace taskmill::worker {
namespace {

constexpr int kSocketHwm = 1000;
constexpr int kZmqReconnectIvlMs = 100;
constexpr int kZmqReconnectIvlMaxMs = 2000;
// Reliable messages kept while the broker is away. Only DONEs pile up then (no new tasks
// arrive), so this is a guard against a bug, not a limit anyone should meet.
constexpr size_t kMaxOutbox = 10'000;

// A routing id of its own for every link: the worker id and 128 random bits. The broker takes
// no routing-id handover, and a routing id nobody can guess is one nobody can connect with
// to receive this worker's tasks; the worker id moves to the new link with its READY.
std::string LinkRoutingId(const std::string& worker_id) {
  return worker_id + "." + RandomHex(16);
}

Parts ToParts(const protocol::Message& msg) {
  protocol::Frames f = protocol::Encode(msg);
  return {std::move(f.version), std::move(f.command), std::move(f.body)};
}

}  // namespace

Result<void> IoLoop::OpenLink() {
  auto opened = ZmqSocket::Open(context_, zmq::socket_type::dealer, "dealer");
  if (!opened) return std::unexpected(opened.error());
  ZmqSocket s = std::move(*opened);
  // IMMEDIATE: a message is accepted only by a live connection, so while the broker is
  // away DONEs stay in our outbox (and survive the reconnect) instead of a dead pipe.
  const std::string& endpoint = ring_->current();
  for (auto [opt, value] : {std::pair{ZMQ_SNDHWM, kSocketHwm},
                            {ZMQ_RCVHWM, kSocketHwm},
                            {ZMQ_IMMEDIATE, 1},
                            {ZMQ_LINGER, 0},
                            {ZMQ_RECONNECT_IVL, kZmqReconnectIvlMs},
                            {ZMQ_RECONNECT_IVL_MAX, kZmqReconnectIvlMaxMs}}) {
    if (auto r = s.SetInt(opt, value); !r) return r;
  }
  if (auto r = s.SetBytes(ZMQ_ROUTING_ID, LinkRoutingId(options_.id)); !r) return r;
  // Every link is a new socket: the keys go on each one before it connects.
  if (curve_) {
    if (auto r = ApplyCurveClient(s.handle(), *curve_); !r) return r;
  }
  std::string monitor_endpoint = "inproc://taskmill-worker-monitor-" +
                                 std::to_string(reinterpret_cast<uintptr_t>(this)) + "-" +
                                 std::to_string(++links_opened_);
  // DISCONNECTED / CONNECT_RETRIED matter only with an endpoint list (OnLinkMonitor).
  if (zmq_socket_monitor(s.handle(), monitor_endpoint.c_str(),
                         ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                             ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECT_RETRIED) != 0) {
    return MakeError(ErrorCode::kInternal,
                     std::string("dealer: zmq_socket_monitor: ") + zmq_strerror(zmq_errno()));
  }
  auto monitor = ZmqSocket::Open(context_, zmq::socket_type::pair, "monitor");
  if (!monitor) return std::unexpected(monitor.error());
  if (auto r = monitor->Connect(monitor_endpoint); !r) return r;
  if (auto r = s.Connect(endpoint); !r) {
    zmq_socket_monitor(s.handle(), nullptr, 0);
    return r;
  }
  dealer_ = std::move(s);
  monitor_ = std::move(*monitor);
  link_ = LinkState::kLinked;
  heard_on_link_ = false;
  warned_wrong_port_ = false;

  // Every link starts with READY, ahead of any DONE kept from the last one.
  std::erase_if(outbox_, [](const Outgoing& o) { return o.is_ready; });
  protocol::Ready ready;
  ready.worker_id = options_.id;
  ready.queues = options_.queues;
  for (const auto& [type, handler] : handlers_) ready.types.push_back(type);
  ready.concurrency = options_.concurrency;
  ready.labels = options_.labels;
  // What this process still holds, so the broker keeps exactly these leases.
  for (const auto& [key, run] : running_) ready.running.push_back(run.task_id);
  for (const auto& o : outbox_) {
    if (!o.task_id.empty()) ready.running.push_back(o.task_id);
  }
  outbox_.push_front(Outgoing{ToParts(ready), true, {}});
  int64_t now = clock_.MonotonicMs();
  last_broker_ms_ = now;
  next_heartbeat_ms_ = now + options_.heartbeat_ms;
  log_->info("connecting to broker {} as {}", endpoint, options_.id);
  return {};
}

void IoLoop::CloseLink(int linger_ms) {
  if (dealer_.is_open()) zmq_socket_monitor(dealer_.handle(), nullptr, 0);
  dealer_.Close(linger_ms);
  monitor_.Close(0);
  link_ = LinkState::kBackoff;
}

void IoLoop::OnLinkMonitor(int64_t now) {
  std::string why;
  while (why.empty()) {
    auto msg = monitor_.Recv(true, 2);
    if (!msg || !*msg) return;
    const Parts& parts = **msg;
    if (parts.empty() || parts[0].size() < 6) continue;
    uint16_t event = 0;
    uint32_t value = 0;
    std::memcpy(&event, parts[0].data(), sizeof event);
    std::memcpy(&value, parts[0].data() + sizeof event, sizeof value);
    if (event == ZMQ_EVENT_DISCONNECTED || event == ZMQ_EVENT_CONNECT_RETRIED) {
      // One endpoint: libzmq reconnects by itself and liveness decides, as always. A list:
      // the broker is gone (kill -9: at once) or not there; move to the next one now.
      if (ring_->size() > 1) {
        why = "broker " + ring_->current() +
              (event == ZMQ_EVENT_DISCONNECTED ? " disconnected" : " not reachable");
      }
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
      why = "the broker refused this worker's CURVE key (ZAP status " + std::to_string(value) +
            "): its .pub must be in the broker's --curve-allow-dir";
    } else if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
      why = curve_ ? "the broker does not use CURVE, but this worker does (--curve-server-key)"
                   : "the broker requires CURVE: set --curve-server-key and --curve-key-file";
    } else {
      why = "handshake with the broker failed (ZMTP protocol error " + std::to_string(value) +
            (curve_ ? "; is --curve-server-key the broker's public key?)" : ")");
    }
  }
  Backoff(now, why);
}

void IoLoop::Backoff(int64_t now, const std::string& why) {
  CloseLink(0);
  ++dead_links_;
  // What the lost broker may not have read goes out again, after the next link's READY.
  size_t resent = recent_dones_.size();
  for (auto it = recent_dones_.rbegin(); it != recent_dones_.rend(); ++it) {
    outbox_.push_front(std::move(it->second));
  }
  recent_dones_.clear();
  bool whole_cycle = ring_->Failed();
  const std::string& next = ring_->Next();
  uint64_t delay = 0;
  if (whole_cycle) {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    delay = options_.reconnect.DelayFor(dead_links_, unit(rng_));
  }
  reconnect_at_ms_ = now + static_cast<int64_t>(delay);
  // Next() moves on whenever the list has another endpoint.
  log_->warn("{}; {} {} in {} ms (keeping {} running task(s); {} DONE(s) queued, {} of them "
             "sent again)",
             why, ring_->size() > 1 ? "moving to" : "reconnecting to", next, delay,
             running_.size(), outbox_.size(), resent);
}

void IoLoop::QueueReliable(const protocol::Message& msg) {
  const auto* done = std::get_if<protocol::Done>(&msg);
  QueueReliableFrames(ToParts(msg), done != nullptr ? done->task_id : std::string());
}

void IoLoop::QueueReliableFrames(Parts frames, std::string task_id) {
  if (outbox_.size() >= kMaxOutbox) {
    log_->warn("outbox full ({} messages); dropping the oldest", outbox_.size());
    auto it =
        std::find_if(outbox_.begin(), outbox_.end(), [](const Outgoing& o) { return !o.is_ready; });
    if (it != outbox_.end()) outbox_.erase(it);
  }
  // Sent by the Flush at the end of the loop turn, with the rest of the turn's DONEs: they
  // reach the broker as one burst, so it records them (and claims the freed slots) in one
  // batch, and libzmq's I/O thread wakes once per burst instead of once per DONE.
  outbox_.push_back(Outgoing{std::move(frames), false, std::move(task_id)});
}

void IoLoop::SendBestEffort(const protocol::Message& msg) {
  Parts parts = ToParts(msg);
  SendBestEffortFrames(parts);
}

void IoLoop::SendBestEffortFrames(std::span<const std::string> frames) {
  // Never ahead of READY or a DONE: the broker must see those first.
  if (link_ != LinkState::kLinked) return;
  Flush();
  if (!outbox_.empty()) return;
  std::vector<std::string_view> views(frames.begin(), frames.end());
  auto sent = dealer_.Send(views, /*dontwait=*/true);
  if (!sent) log_->debug("best-effort send failed: {}", sent.error().message);
}

void IoLoop::Flush() {
  if (link_ != LinkState::kLinked) return;
  std::optional<int64_t> now;  // read once per burst, at its first DONE sent
  std::vector<std::string_view> views;  // reused: one allocation per burst, not per message
  while (!outbox_.empty()) {
    const Parts& parts = outbox_.front().frames;
    views.assign(parts.begin(), parts.end());
    auto sent = dealer_.Send(views, /*dontwait=*/true);
    if (!sent) {
      log_->warn("send to broker failed: {}", sent.error().message);
      return;
    }
    if (!*sent) return;  // no live connection yet: POLLOUT tells us when
    if (!outbox_.front().task_id.empty()) {
      if (!now) now = clock_.MonotonicMs();
      // Kept for one silence limit and a heartbeat: by then the broker has read them or
      // the link is known dead.
      int64_t keep_ms = SilenceLimitMs() + static_cast<int64_t>(options_.heartbeat_ms);
      while (!recent_dones_.empty() && (recent_dones_.front().first < *now - keep_ms ||
                                        recent_dones_.size() >= kMaxOutbox)) {
        recent_dones_.pop_front();
      }
      recent_dones_.emplace_back(*now, std::move(outbox_.front()));
    }
    outbox_.pop_front();
  }
}

void IoLoop::FinalFlush() {
  // BYE and the last DONEs get up to linger_ms to reach a live connection.
  int64_t deadline = clock_.MonotonicMs() + options_.linger_ms;
  // Between links (backoff) there is no socket: try one more link rather than drop them.
  if (link_ == LinkState::kBackoff && !outbox_.empty()) {
    if (auto r = OpenLink(); !r) {
      log_->warn("cannot reach the broker to say BYE: {}", r.error().message);
    }
  }
  while (link_ == LinkState::kLinked && !outbox_.empty()) {
    int64_t left = deadline - clock_.MonotonicMs();
    if (left <= 0) break;
    zmq_pollitem_t item{dealer_.handle(), 0, ZMQ_POLLOUT, 0};
    if (!Poll({&item, 1}, static_cast<long>(left))) break;
    Flush();
  }
  if (!outbox_.empty()) {
    log_->warn("exiting with {} unsent messages (broker unreachable)", outbox_.size());
  }
  CloseLink(static_cast<int>(options_.linger_ms));
}

}  // namespace taskmill::worker
