#pragma once

// The transport under Client: one DEALER owned by an I/O thread, request/reply matching by
// req_id with deadlines, and batch-event delivery on a callback thread.

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "taskmill/client/client.h"
#include "taskmill/shared/curve_keys.h"
#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/codec.h"
#include "result_table.h"

namespace taskmill::client {

// Lifecycle: Open starts two threads; Stop (or the destructor) joins them and fails every
// request still waiting. Threads: the I/O thread owns the ZeroMQ sockets (created and
// closed inside Run); the callback thread runs EventCallbacks; every public method is
// safe from any thread. Owner: the Client (shared with its Subscriptions, weakly).
class Connection {
 public:
  static Result<std::shared_ptr<Connection>> Open(const ClientOptions& options);
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

  // RESULT pushes of tasks submitted with notify, fed by the I/O thread.
  ResultTable& results() { return results_; }

  // Registers a callback for a batch's events (before telling the broker, so that no
  // event is missed); returns its id, never 0.
  uint64_t AddSubscription(const std::string& batch_id, EventCallback callback);
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
    std::string batch_id;
    std::shared_ptr<EventCallback> callback;  // co-owned by a callback call in progress
  };

  explicit Connection(ClientOptions options)
      : options_(std::move(options)), results_(options_.max_kept_results) {}
  void Enqueue(Request request);
  void Wake();
  void Run(std::promise<Result<void>> started);
  void RunCallbacks();

  // I/O thread only.
  void FlushBacklog(void* dealer);
  void ReadReplies(void* dealer);
  void ReadMonitor(void* monitor, void* dealer);
  void Redial(void* dealer, int64_t now_ms);
  void ExpireRequests(int64_t now_ms);
  void Finish(Request& request, Result<protocol::Reply> result);
  void Resubscribe();
  int64_t NextDeadline() const;

  const ClientOptions options_;
  std::optional<CurveClientKeys> curve_;  // loaded by Open; set on the DEALER before connect
  void* context_ = nullptr;               // zmq context; terminated in the destructor after Stop
  int wake_fd_ = -1;                      // eventfd: callers poke the I/O thread through it
  std::thread io_thread_;
  std::thread callback_thread_;

  std::mutex mu_;               // guards outbox_ and stopping_
  std::deque<Request> outbox_;  // queued by callers, taken by the I/O thread
  bool stopping_ = false;       // true once Stop began: no new requests are accepted
  std::atomic<uint64_t> next_req_id_{1};
  ResultTable results_;  // thread-safe on its own

  // I/O thread state.
  std::deque<Request> backlog_;            // taken from outbox_, not yet accepted by ZeroMQ
  std::map<uint64_t, Request> in_flight_;  // sent, awaiting their REPLY, by req_id
  bool heard_from_broker_ = false;         // true iff any broker message ever arrived
  uint64_t handshakes_ = 0;                // ZMTP handshakes completed (1 + reconnects)
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

}  // namespace taskmill::client
