#pragma once

#include <hiredis/async.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "redis/redis_config.h"
#include "redis/replica_gate.h"
#include "taskmill/shared/clock.h"
#include "taskmill/shared/error.h"

namespace taskmill::broker {

struct RedisConnectionOptions {
  int64_t connect_timeout_ms = 2000;  // TCP connect + AUTH/SELECT/SCRIPT LOAD, per attempt
  int64_t reconnect_min_ms = 50;      // first retry delay after a failure
  int64_t reconnect_max_ms = 5000;    // cap of the doubling retry delay
  // Sentinel mode: each question to a Sentinel or a candidate master, per attempt.
  int64_t discovery_timeout_ms = 300;
};

// One asynchronous hiredis connection driven by the caller's event loop (the broker's
// zmq_poll reactor, or RunUntil below): the loop polls fd() for WantedEvents(), calls
// HandleEvents() with what fired and Tick() when NextTimerMs() is due. Commands issued in one
// loop turn are written together on the next writable event: that is the pipeline.
//
// Lifecycle: construct, register scripts, Start(); it finds the node to dial (LocateRedis:
// with redis+sentinel://, the current master), connects, authenticates, selects the db and
// loads every script, then is ready. With Sentinel, a READONLY/LOADING/MASTERDOWN reply
// (a demoted or not yet usable node) fails that command with kStoreUnavailable and drops the
// connection, so the next attempt finds the master again. If the connection drops it fails
// every pending command with kStoreUnavailable and reconnects with doubling backoff. While not ready,
// Command()/Eval() fail at once with kStoreUnavailable: nothing is queued behind an outage.
// Thread: the one reactor thread, for every call. Owner: the broker (or a test); the Store
// holds a reference, so the connection must outlive it. Not movable (hiredis keeps `this`).
// Callbacks must not destroy the connection; callbacks pending at destruction are dropped.
class RedisConnection {
 public:
  enum class State { kStopped, kDisconnected, kConnecting, kReady };
  // The reply is only valid during the callback. An error reply arrives as an Error: NOAUTH/
  // WRONGPASS -> kUnauthorized; LOADING/BUSY/MASTERDOWN/READONLY/MISCONF, or a lost connection
  // -> kStoreUnavailable; "TM_<CODE> msg" (our scripts) -> that ErrorCode; else kInternal.
  using Callback = std::function<void(Result<const redisReply*>)>;

  explicit RedisConnection(RedisConfig config, RedisConnectionOptions options = {},
                           const Clock& clock = SystemClock::Instance());
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Registers a Lua script, loaded on every (re)connect; returns its handle for Eval.
  size_t AddScript(std::string name, std::string body);
  // Begins connecting (non-blocking). Idempotent.
  void Start();
  // Drops the connection (pending callbacks get kStoreUnavailable) and stays down.
  void Stop();

  State state() const { return state_; }
  bool ready() const { return state_ == State::kReady; }
  // The last connection or handshake error, for logs and /readyz; never contains secrets.
  const std::string& last_error() const { return last_error_; }
  // Called on every state change (e.g. the broker flips /readyz).
  void SetStateCallback(std::function<void(State)> cb) { on_state_ = std::move(cb); }
  // Called with each reply's round trip in seconds (issued -> answered), e.g. for a
  // histogram; unset, nothing is timed.
  void SetRoundTripObserver(std::function<void(double)> cb) { on_round_trip_ = std::move(cb); }

  // Event-loop integration. fd() is -1 while there is no socket.
  int fd() const;
  short WantedEvents() const;  // ZMQ_POLLIN / ZMQ_POLLOUT bits
  void HandleEvents(short revents);
  // Monotonic ms of the next reconnect or connect deadline; -1 if none.
  int64_t NextTimerMs() const;
  void Tick(int64_t now_ms);

  // Any command, binary safe.
  void Command(const std::vector<std::string>& args, Callback cb);
  // EVALSHA of a registered script; the first `num_keys` of `args` are its KEYS, the rest its
  // ARGV. NOSCRIPT is retried once as EVAL.
  void Eval(size_t script, std::vector<std::string> args, Callback cb, int num_keys = 0);
  // For ReplicaGate's WAIT and marker: a command whose reply is never held.
  void CommandUngated(const std::vector<std::string>& args, Callback cb);
  // --redis-min-replicas: every later reply of Command/Eval is held by `gate` until its WAIT.
  void SetReplicaGate(ReplicaGate* gate) { gate_ = gate; }
  // The node of the current (or last) connection, e.g. "redis://127.0.0.1:7001/0".
  const std::string& node() const { return node_; }
  // Commands written but not yet answered.
  size_t in_flight() const { return in_flight_; }

  // Subscriber mode (a connection of its own: once subscribed, it takes no other command).
  // SUBSCRIBEs `channels`; `on_message` then gets every reply pushed on them (the
  // subscribe confirmations, then ["message", channel, payload] arrays) until the connection
  // drops. Not renewed on reconnect: subscribe again from the state callback (kReady).
  using MessageHandler = std::function<void(const redisReply*)>;
  void Subscribe(const std::vector<std::string>& channels, MessageHandler on_message);

 private:
  struct Pending;
  struct Script {
    std::string name;
    std::string body;
    std::string sha;  // from SCRIPT LOAD; empty until the first load answered
  };

  void Connect();
  void SetState(State s);
  void Fail(const std::string& why);  // logs, drops the context, schedules a reconnect
  void OnContextGone();               // hiredis freed the context
  void Handshake();
  void HandshakeStep(Result<const redisReply*> r, const std::string& step);
  bool Send(Pending* p, const std::vector<std::string>& args);
  void SendCommand(const std::vector<std::string>& args, Callback cb, bool gated);
  void SendEval(std::unique_ptr<Pending> p);
  // Bookkeeping of a command hiredis accepted: round-trip start, the gate's WAIT, in_flight.
  void Written(Pending& p);
  static void OnReply(redisAsyncContext* ac, void* reply, void* privdata);
  static void OnPush(redisAsyncContext* ac, void* reply, void* privdata);
  static void OnConnect(const redisAsyncContext* ac, int status);
  // Writes hiredis's output buffer from obuf_sent_ on; false when hiredis must write instead
  // (not connected yet, or a write error for it to report).
  bool WriteOutput();
  static void EvAddRead(void* data);
  static void EvDelRead(void* data);
  static void EvAddWrite(void* data);
  static void EvDelWrite(void* data);
  static void EvCleanup(void* data);

  RedisConfig config_;
  RedisConnectionOptions options_;
  const Clock& clock_;
  std::vector<Script> scripts_;
  std::function<void(State)> on_state_;
  std::function<void(double)> on_round_trip_;
  ReplicaGate* gate_ = nullptr;  // --redis-min-replicas; null = replies go straight out
  std::string node_;             // Describe() of the node dialled last (no secrets)
  MessageHandler on_message_;  // subscriber mode: every pushed reply
  redisAsyncContext* ac_ = nullptr;  // owned; freed through hiredis (null when no socket)
  State state_ = State::kStopped;
  bool want_read_ = false;         // true iff hiredis asked for read events
  bool want_write_ = false;        // true iff hiredis has output to flush
  bool destroying_ = false;        // true iff in the destructor: drop callbacks
  int handshake_left_ = 0;         // handshake replies still awaited
  int64_t connect_deadline_ = -1;  // monotonic ms the current attempt must be ready by
  int64_t reconnect_at_ = -1;      // monotonic ms of the next attempt; -1 none scheduled
  int64_t backoff_ms_ = 0;         // current reconnect delay
  size_t in_flight_ = 0;
  size_t obuf_sent_ = 0;  // bytes at the front of hiredis's output buffer already written
  std::string last_error_;
};

// Drives one connection with poll() until pred() holds or timeout_ms passes; returns pred().
// For tests and tools: the broker uses its own reactor instead.
bool RunUntil(RedisConnection& conn, const std::function<bool()>& pred, int64_t timeout_ms);

}  // namespace taskmill::broker
