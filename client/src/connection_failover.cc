// Connection, its failover half: the socket monitor (disconnects, refused handshakes), moving
// to the next broker of the endpoint list (GOAWAY, a dead link, a failed dial), the backoffs
// between dials, and renewing subscriptions on the new broker. The rest of Connection (the
// I/O thread, requests, replies, expiry) is in connection.cc.

#include <zmq.h>

#include "connection.h"
#include "taskmill/shared/backoff.h"
#include "taskmill/shared/log.h"

namespace taskmill::client {
namespace {

auto Log() {
  static auto log = Logger("client");
  return log;
}

// Redials after a refused handshake (500 ms doubling to 5 s), and the pause after a whole
// cycle of the endpoint list failed (100 ms doubling to 2 s); attempt n waits DelayFor(n).
constexpr BackoffPolicy kHandshakeBackoff{.base_ms = 500, .max_ms = 5000};
constexpr BackoffPolicy kCycleBackoff{.base_ms = 100, .max_ms = 2000};

}  // namespace

void Connection::ReadMonitor(void* monitor, void* dealer) {
  std::vector<std::string> parts;
  bool too_many = false;
  while (RecvParts(monitor, parts, too_many)) {
    if (parts.empty() || parts[0].size() < 6) continue;
    uint16_t event = 0;
    uint32_t value = 0;
    std::memcpy(&event, parts[0].data(), sizeof event);
    std::memcpy(&value, parts[0].data() + sizeof event, sizeof value);
    const std::string about = parts.size() > 1 ? parts[1] : connected_;
    const std::string& at = connected_.empty() ? ring_->current() : connected_;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH || event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
      if (redial_at_ms_ == 0) {
        ++failed_handshakes_;
        redial_at_ms_ =
            SteadyMs() + static_cast<int64_t>(kHandshakeBackoff.DelayFor(failed_handshakes_));
      }
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
      handshake_failure_ = "the broker at " + at +
                           " refused this client's CURVE key (ZAP status " + std::to_string(value) +
                           "): its .pub must be in the broker's --curve-allow-dir";
      Log()->debug("{}", handshake_failure_);
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
      handshake_failure_ =
          value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
              ? std::string("the broker at ") + at +
                    (curve_ ? " does not use CURVE, but this client does (curve-server-key)"
                            : " requires CURVE: set curve-server-key and curve-key-file")
              : "the handshake with the broker at " + at +
                    " failed (ZMTP protocol error " + std::to_string(value) +
                    (curve_ ? "; is curve-server-key the broker's public key?)" : ")");
      Log()->debug("{}", handshake_failure_);
    } else if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      // Counted even when it is about a broker left already: a caller may have driven whole
      // requests over that link, and met its GOAWAY, before this thread read the event.
      // Only then is the next handshake a reconnect, which must renew the subscriptions.
      ++handshakes_;
      if (!AboutCurrent(about)) continue;  // a broker of the list left already
      handshake_failure_.clear();
      failed_handshakes_ = 0;
      failed_cycles_ = 0;
      awaiting_handshake_ = false;
      ring_->Answered();
      Log()->debug("connected to {} (handshake {})", at, handshakes_.load());
      // A new connection is a new ROUTER identity (and after a broker restart, a broker
      // that knows no subscriptions): renew them all.
      // RESULT pushes still expected went to the old identity: their waiters ask instead.
      if (handshakes_ > 1) {
        Resubscribe();
        results_.OnReconnect();
      }
      DetachLeftPipes(dealer);
      FlushBacklog(dealer);
    } else if (event == ZMQ_EVENT_DISCONNECTED || event == ZMQ_EVENT_CONNECT_RETRIED) {
      const char* what = event == ZMQ_EVENT_DISCONNECTED ? "lost" : "not reachable";
      Log()->debug("broker {} {}", about, what);
      // With one endpoint libzmq reconnects by itself, as it always did. With a list, the
      // loss of the current broker (kill -9: at once; a silent one: after the heartbeat
      // timeout) or a failed connect moves us on.
      if (ring_->size() > 1 && AboutCurrent(about)) {
        MoveBroker(dealer, std::string("broker ") + about + " " + what);
      }
    }
  }
}

void Connection::DetachLeftPipes(void* dealer) {
  // zmq_disconnect only asks libzmq's I/O thread to end the session of the broker left; the
  // DEALER drops that broker's pipe when it next processes its commands, and zmq_send does
  // so at most once a millisecond (a TSC throttle). The first send on the new link may come
  // sooner (the GOAWAY, the move and this handshake within one millisecond of the request
  // that met the GOAWAY), and the DEALER would hand the resent requests to the dying pipe,
  // where they vanish: the request expires unanswered although the new broker is up.
  // ZMQ_EVENTS processes every pending command unthrottled. The old pipe's end is among them
  // by now: the context has one I/O thread (Open), which ended the old session before it
  // began dialling the new broker, whose handshake we are reading.
  int events = 0;
  size_t size = sizeof events;
  (void)zmq_getsockopt(dealer, ZMQ_EVENTS, &events, &size);
}

bool Connection::AboutCurrent(const std::string& endpoint) const {
  if (connected_.empty()) return false;  // between cycles: nothing is connected
  if (endpoint == connected_) return true;
  // Named another endpoint of the list: one left already. Otherwise libzmq named it in a
  // form of its own (a resolved host name): it can only be the one connected.
  return std::find(ring_->all().begin(), ring_->all().end(), endpoint) == ring_->all().end();
}

void Connection::MoveBroker(void* dealer, const std::string& why) {
  if (!connected_.empty()) zmq_disconnect(dealer, connected_.c_str());
  std::string left = connected_.empty() ? ring_->current() : connected_;
  bool whole_cycle = ring_->Failed();
  const std::string& next = ring_->Next();
  moves_.fetch_add(1);
  awaiting_handshake_ = true;
  {
    std::lock_guard lock(mu_);
    endpoint_now_ = next;
  }
  // Unanswered requests go first, in the order they were sent, and byte for byte the same:
  // a SUBMIT or BATCH keeps its request_id, so the broker that gets it again (or another on
  // the same Redis) never stores its tasks twice. Their deadlines stay.
  std::deque<Request> resend;
  for (auto& [id, r] : in_flight_) {
    r.sent = false;
    resend.push_back(std::move(r));
  }
  in_flight_.clear();
  size_t resent = resend.size();
  for (auto& r : backlog_) resend.push_back(std::move(r));
  backlog_.swap(resend);
  if (whole_cycle) {
    // Every endpoint failed in a row: back off before the next cycle.
    ++failed_cycles_;
    auto delay = static_cast<int64_t>(kCycleBackoff.DelayFor(failed_cycles_));
    connected_.clear();
    redial_at_ms_ = SteadyMs() + delay;
    Log()->info("{}; every broker endpoint failed, trying {} in {} ms ({} request(s) to resend)",
                why, next, delay, resent);
    return;
  }
  if (zmq_connect(dealer, next.c_str()) != 0) {
    Log()->warn("connecting to {}: {}", next, ZmqErrorText());
  }
  connected_ = next;
  Log()->info("{}; moved from {} to {} ({} request(s) to resend)", why, left, next, resent);
}

void Connection::Redial(void* dealer, int64_t now_ms) {
  if (redial_at_ms_ == 0 || now_ms < redial_at_ms_) return;
  redial_at_ms_ = 0;
  // Disconnect first (it fails harmlessly when libzmq already dropped the endpoint), so a
  // redial can never leave two connections to one broker.
  if (!connected_.empty()) zmq_disconnect(dealer, connected_.c_str());
  connected_ = ring_->current();
  if (zmq_connect(dealer, connected_.c_str()) != 0) {
    Log()->warn("reconnecting to {}: {}", connected_, ZmqErrorText());
  }
}

std::string Connection::current_endpoint() {
  std::lock_guard lock(mu_);
  return endpoint_now_;
}

void Connection::Resubscribe() {
  std::vector<std::string> batches;
  {
    std::lock_guard lock(cb_mu_);
    for (const auto& [id, sub] : subs_) {
      if (!sub.batch_id.empty()) batches.push_back(sub.batch_id);  // not a WAIT's progress
    }
  }
  std::sort(batches.begin(), batches.end());
  batches.erase(std::unique(batches.begin(), batches.end()), batches.end());
  for (const auto& batch_id : batches) {
    protocol::Subscribe subscribe;
    subscribe.batch_id = batch_id;
    Request r = MakeRequest(std::move(subscribe), options_.request_timeout_ms);
    r.promise.reset();  // a renewal: its reply is dropped
    backlog_.push_front(std::move(r));  // ahead of queued requests, so no event is missed
  }
}

}  // namespace taskmill::client
