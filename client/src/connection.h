#pragma once

// The transport under Client: one DEALER, request/reply matching by req_id with deadlines,
// and batch-event delivery on a callback thread. An I/O thread serves the DEALER while no
// caller does; a blocking caller drives it itself when it can (see Drive).

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "taskmill/client/client.h"
#include "taskmill/shared/curve_keys.h"
#include "taskmill/shared/endpoints.h"
#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/codec.h"
#include "result_table.h"

namespace taskmill::client {

// Lifecycle: Open starts two threads; Stop (or the destructor) joins them and fails every
// request still waiting. Threads: the I/O thread creates and closes the ZeroMQ sockets
// (inside Run) and owns the monitor; the DEALER and the request state are used by whoever
// holds io_mu_: the I/O thread, or a blocking caller driving the socket itself (Call,
// AwaitResults), which saves the three thread wake-ups of a hand-over. A driver gives the
// socket back as soon as the I/O thread asks (yield_wanted_): for requests queued by other
// threads, monitor events (reconnects), timers and Stop. The callback thread runs
// EventCallbacks; every public method is safe from any thread. Owner: the Client (shared
// with its Subscriptions, weakly).
class Connection {
 public:
  // monitor_held: tests only, as HoldMonitorForTest(true) from the start.
  static Result<std::shared_ptr<Connection>> Open(const ClientOptions& options,
                                                  bool monitor_held = false);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends a request (its req_id is assigned here) and blocks until its REPLY or the
  // deadline. Transport errors only: a REPLY carrying an error is returned as a value.
  Result<protocol::Reply> Call(protocol::Message request, uint32_t timeout_ms);
  // The same without blocking: the future is ready by the deadline (Await waits for it).
  struct Pending {
    std::future<Result<protocol::Reply>> reply;
    int64_t deadline_ms = 0;  // steady ms
    uint32_t timeout_ms = 0;
  };
  Pending Send(protocol::Message request, uint32_t timeout_ms);
  static Result<protocol::Reply> Await(Pending pending);

  // RESULT pushes of tasks submitted with notify, fed by whoever reads the DEALER.
  ResultTable& results() { return results_; }
  // True while a caller's thread (not the I/O thread) serves the DEALER (tests, diagnostics).
  bool caller_driving() const { return driving_.load(); }
  // Times this connection moved to another broker endpoint (or reconnected after a
  // GOAWAY), and the endpoint it uses now (tests, diagnostics).
  uint64_t moves() const { return moves_.load(); }
  // Handshakes the I/O thread has read from the socket monitor so far (tests, diagnostics).
  uint64_t handshakes() const { return handshakes_.load(); }
  std::string current_endpoint();
  // Tests only: while held, the I/O thread leaves the socket monitor's events (handshakes,
  // disconnects) unread, as a busy machine may for a while; they are read once released.
  void HoldMonitorForTest(bool hold);
  // ResultTable::Await, reading the DEALER on this thread while it may (see Drive).
  ResultTable::Awaited AwaitResults(const std::vector<std::string>& ids, int64_t deadline_ms);

  // Registers a callback for a batch's events (before telling the broker, so that no
  // event is missed); returns its id, never 0.
  uint64_t AddSubscription(const std::string& batch_id, EventCallback callback);
  // task_progress EVENTs of a WAIT with progress (no batch: batch_id "") for these tasks;
  // removed with RemoveSubscription(id, false) once the WAIT is answered.
  uint64_t AddTaskProgress(const std::vector<std::string>& task_ids, EventCallback callback);
  // Unregisters it; tells the broker when it was the batch's last one and tell_broker.
  // Waits for a running call of this callback, unless called from the callback thread.
  void RemoveSubscription(uint64_t id, bool tell_broker);

  // Stops both threads; idempotent. Must not be called from the callback thread.
  void Stop();

 private:
  // One request on its way: queued by a caller, sent by the I/O thread, answered or expired.
  struct Request {
    uint64_t req_id = 0;
    protocol::Frames frames;
    int64_t deadline_ms = 0;  // steady-clock ms
    uint32_t timeout_ms = 0;  // for the error message
    bool sent = false;        // true once the DEALER accepted it
    bool notify = false;      // true iff a SUBMIT with notify: its reply registers its ids
    // Unset for fire-and-forget requests (subscription renewals), whose replies are dropped.
    std::optional<std::promise<Result<protocol::Reply>>> promise;
  };
  struct Sub {
    std::string batch_id;                     // "": a WAIT's progress (tasks below)
    std::shared_ptr<EventCallback> callback;  // co-owned by a callback call in progress
    std::set<std::string> tasks;              // batch_id "": the tasks waited on
  };

  explicit Connection(ClientOptions options)
      : options_(std::move(options)), results_(options_.max_kept_results) {}
  Request MakeRequest(protocol::Message message, uint32_t timeout_ms);
  void Enqueue(Request request);
  void Wake();
  // Serves the DEALER on the calling thread until done() (called under io_mu_), deadline_ms
  // (steady) or another thread asks for it (yield_wanted_); first sends `*send` if given,
  // moving it out (else it stays for the caller to Enqueue). Returns at once when another
  // caller drives the socket (waits out an I/O thread's turn). Afterwards the caller waits
  // as usual: what is left, the I/O thread finishes.
  void Drive(std::optional<Request>* send, const std::function<bool()>& done,
             int64_t deadline_ms);
  // True iff a message is waiting on the DEALER (ZMQ_EVENTS; io_mu_ held).
  bool Readable(void* dealer) const;
  void Run(std::promise<Result<void>> started);
  void RunCallbacks();

  // With io_mu_ held (the I/O thread or a driver).
  void FlushBacklog(void* dealer);
  void ReadReplies(void* dealer);
  void ExpireRequests(int64_t now_ms);
  void Finish(Request& request, Result<protocol::Reply> result);
  int64_t NextDeadline() const;
  // I/O thread only, with io_mu_ held.
  void ReadMonitor(void* monitor, void* dealer);
  void Redial(void* dealer, int64_t now_ms);
  void Resubscribe();
  // With io_mu_ held. The broker is lost (disconnect, failed connect, heartbeat timeout) or
  // said GOAWAY: leave its endpoint for the next one of the list (at once, or after the
  // reconnect backoff once a whole cycle failed; a single endpoint is redialled after the
  // backoff), and queue every unanswered request to be resent, byte for byte, ahead of the
  // rest. Subscriptions and RESULT waiters are renewed on the new handshake.
  void MoveBroker(void* dealer, const std::string& why);
  // Makes the DEALER process its pending commands, so that the pipe of a broker left (after
  // zmq_disconnect) is gone before the first request is sent on the new link (io_mu_).
  void DetachLeftPipes(void* dealer);
  // True iff a monitor event naming `endpoint` is about the current endpoint: not about an
  // earlier one of the list, left already.
  bool AboutCurrent(const std::string& endpoint) const;

  const ClientOptions options_;
  std::optional<EndpointRing> ring_;  // set by Open; used with io_mu_ held (after Open)
  std::atomic<uint64_t> moves_{0};
  std::atomic<bool> monitor_held_{false};  // true: the I/O thread leaves the monitor unread
  // The endpoint connected to now; empty between a whole failed cycle and its redial (io_mu_).
  std::string connected_;
  uint32_t failed_cycles_ = 0;  // whole cycles of the list lost in a row (io_mu_), for backoff
  // True from a move until the next handshake completes (io_mu_): nothing is sent meanwhile,
  // since the pipe to the broker left may linger in the DEALER for a moment after
  // zmq_disconnect and would take the resent requests with it (DetachLeftPipes then ends
  // that moment before the first send).
  bool awaiting_handshake_ = false;
  std::optional<CurveClientKeys> curve_;  // loaded by Open; set on the DEALER before connect
  void* context_ = nullptr;               // zmq context; terminated in the destructor after Stop
  int wake_fd_ = -1;                      // eventfd: callers poke the I/O thread through it
  int yield_fd_ = -1;                     // eventfd: the I/O thread asks a driver to yield
  std::thread io_thread_;
  std::thread callback_thread_;

  std::mutex mu_;               // guards outbox_, stopping_ and endpoint_now_
  std::string endpoint_now_;    // a copy of ring_->current() for current_endpoint()
  std::deque<Request> outbox_;  // queued by callers, taken by the I/O thread
  bool stopping_ = false;       // true once Stop began: no new requests are accepted
  std::atomic<uint64_t> next_req_id_{1};
  ResultTable results_;  // thread-safe on its own

  // Who serves the DEALER. Lock order: io_mu_, then mu_, cb_mu_ or the ResultTable's.
  std::mutex io_mu_;                      // guards the DEALER and the request state below
  std::atomic<int> yield_wanted_{0};      // >0: the I/O thread waits for io_mu_; drivers yield
  std::atomic<bool> driving_{false};      // io_mu_ is held by a caller (not the I/O thread)

  // Request state (io_mu_).
  void* dealer_ = nullptr;                 // the I/O thread's DEALER; null before and after Run
  std::deque<Request> backlog_;            // taken from outbox_, not yet accepted by ZeroMQ
  std::map<uint64_t, Request> in_flight_;  // sent, awaiting their REPLY, by req_id
  bool heard_from_broker_ = false;         // true iff any broker message ever arrived
  // ZMTP handshakes completed (1 + reconnects), including those of a broker left already;
  // written by the I/O thread (io_mu_), read by handshakes().
  std::atomic<uint64_t> handshakes_{0};
  // Why the latest handshake failed (CURVE refused or mismatched); empty once one succeeds.
  std::string handshake_failure_;
  // libzmq drops an endpoint whose handshake failed and never retries it, so we reconnect
  // ourselves (a key may be allowed later): steady ms of the next attempt, 0 when none.
  int64_t redial_at_ms_ = 0;
  uint32_t failed_handshakes_ = 0;  // in a row, for the redial backoff

  std::mutex cb_mu_;               // guards everything below
  std::condition_variable cb_cv_;  // events_ grew, a callback ended, or stopping
  std::map<uint64_t, Sub> subs_;   // subscription id -> batch and callback
  uint64_t next_sub_id_ = 1;
  std::deque<protocol::Event> events_;  // received, not yet delivered
  uint64_t running_sub_ = 0;            // subscription whose callback runs now; 0: none
  bool cb_stopping_ = false;            // true: the callback thread should exit
  std::thread::id callback_thread_id_;
};

// Milliseconds of the steady clock.
int64_t SteadyMs();
// zmq_strerror of the last ZeroMQ error.
std::string ZmqErrorText();
// Reads one whole message from `socket` without blocking; false when none is waiting. A
// message of more than 8 parts is read to its end, dropped, and flagged in too_many.
bool RecvParts(void* socket, std::vector<std::string>& parts, bool& too_many);

}  // namespace taskmill::client
