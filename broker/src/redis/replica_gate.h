#pragma once

#include <hiredis/hiredis.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "redis/sync_redis.h"
#include "taskmill/shared/error.h"

namespace taskmill::broker {

class RedisConnection;

// --redis-min-replicas N: holds the replies of the broker's Redis connections until Redis
// `WAIT N timeout` confirms that N replicas have everything those replies acknowledge or
// reveal, so an acknowledged SUBMIT, DONE or result survives a Sentinel failover.
//
// At most one WAIT per reactor turn (EndTurn), on the writer connection, for everything of
// the turns since the last one (one WAIT in flight at a time: Redis blocks the connection
// behind it anyway):
// WAIT covers every write that connection sent before it, so a writer reply is released by
// the first WAIT sent after its command. A reader connection (expensive reads: WAIT answers,
// GET, batch status) writes nothing of its own, so what it read may be another connection's
// write not yet replicated: a reply it received is released by a WAIT that follows a marker
// write (SET <marker> with a TTL) the writer sends after that reply arrived; the marker's
// replication offset is past whatever the read saw.
//
// A WAIT that counts fewer than N replicas (or fails) fails every reply it covers with
// kStoreUnavailable "not confirmed by N replicas": retryable; what Redis stored stays stored
// (a resent SUBMIT with its request_id is not stored twice; a DONE's result is kept), and
// `short_waits` counts it. Nothing is queued behind a writer outage: held replies fail.
//
// Thread: the reactor. Owner: the broker runtime; the connections hold a pointer to it
// (SetReplicaGate), so it must outlive their callbacks (declare it before them).
class ReplicaGate {
 public:
  using Callback = std::function<void(Result<const redisReply*>)>;
  struct Counters {
    uint64_t waits = 0;        // WAITs sent
    uint64_t short_waits = 0;  // WAITs that confirmed fewer than N replicas, or failed
    uint64_t released = 0;     // replies released after a WAIT confirmed them
    uint64_t failed = 0;       // replies failed because their WAIT fell short
  };

  ReplicaGate(RedisConnection& writer, int min_replicas, int64_t timeout_ms,
              std::string marker_key);
  ReplicaGate(const ReplicaGate&) = delete;
  ReplicaGate& operator=(const ReplicaGate&) = delete;

  // The number of the WAIT that will follow a command sent now.
  uint64_t NextWait() const { return waits_sent_ + 1; }
  // A gated command was written on `conn`.
  void NoteSent(const RedisConnection& conn);
  // A gated reply arrived on `conn` (copied: hiredis frees the original after the callback);
  // `wait_seq` is the NextWait() of when its command was sent. Only replies are held: an
  // error reply or a lost connection stored nothing, so it goes straight out.
  void Hold(const RedisConnection& conn, uint64_t wait_seq, Callback cb, const redisReply* reply);
  // End of a reactor turn: one WAIT (after a marker write if a reader's reply is held) for
  // everything sent or held since the last one; with the writer down, fails what is held.
  void EndTurn();

  size_t held() const { return held_.size(); }
  const Counters& counters() const { return counters_; }

 private:
  struct Held {
    uint64_t wait_seq;  // released by the WAIT with this number (or a later one)
    Callback cb;
    RedisReplyPtr reply;  // the copy
  };
  void OnWait(uint64_t seq, Result<const redisReply*> r);
  void Settle(uint64_t seq, const std::string* failure);

  RedisConnection& writer_;
  int min_replicas_;
  int64_t timeout_ms_;
  std::string marker_key_;
  std::vector<std::string> wait_args_;  // "WAIT N timeout": the same for every WAIT
  uint64_t waits_sent_ = 0;     // WAITs sent so far (numbered from 1)
  bool writer_unwaited_ = false;  // true iff the writer sent a gated command since the last WAIT
  bool reader_unwaited_ = false;  // true iff a reader's reply arrived since the last WAIT
  bool wait_in_flight_ = false;   // true iff a WAIT was sent and has not answered
  std::vector<Held> held_;        // in arrival order
  Counters counters_;
};

// A deep copy of a hiredis reply, freed by freeReplyObject (hiredis 0.14 allocates with
// malloc, as this does).
redisReply* CopyRedisReply(const redisReply* r);

}  // namespace taskmill::broker
