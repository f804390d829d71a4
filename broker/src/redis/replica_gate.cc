#include "redis/replica_gate.h"

#include <cstdlib>
#include <cstring>
#include <vector>

#include "redis/redis_connection.h"
#include "taskmill/shared/log.h"

namespace taskmill::broker {
namespace {

std::shared_ptr<spdlog::logger> Log() { return Logger("broker.redis"); }

}  // namespace

redisReply* CopyRedisReply(const redisReply* r) {
  auto* out = static_cast<redisReply*>(std::calloc(1, sizeof(redisReply)));
  if (out == nullptr) std::abort();
  out->type = r->type;
  out->integer = r->integer;
  if (r->str != nullptr) {
    out->str = static_cast<char*>(std::malloc(r->len + 1));
    if (out->str == nullptr) std::abort();
    std::memcpy(out->str, r->str, r->len);
    out->str[r->len] = '\0';
    out->len = r->len;
  }
  if (r->type == REDIS_REPLY_ARRAY && r->element != nullptr) {
    out->element = static_cast<redisReply**>(std::calloc(r->elements, sizeof(redisReply*)));
    if (out->element == nullptr && r->elements != 0) std::abort();
    out->elements = r->elements;
    for (size_t i = 0; i < r->elements; ++i) {
      out->element[i] = r->element[i] == nullptr ? nullptr : CopyRedisReply(r->element[i]);
    }
  }
  return out;
}

ReplicaGate::ReplicaGate(RedisConnection& writer, int min_replicas, int64_t timeout_ms,
                         std::string marker_key)
    : writer_(writer),
      min_replicas_(min_replicas),
      timeout_ms_(timeout_ms),
      marker_key_(std::move(marker_key)),
      wait_args_{"WAIT", std::to_string(min_replicas), std::to_string(timeout_ms)} {}

void ReplicaGate::NoteSent(const RedisConnection& conn) {
  if (&conn == &writer_) writer_unwaited_ = true;
}

void ReplicaGate::Hold(const RedisConnection& conn, uint64_t wait_seq, Callback cb,
                       const redisReply* reply) {
  if (&conn != &writer_) {
    // What a reader saw may be anyone's write: only a WAIT behind a marker written after
    // this arrival covers it.
    wait_seq = waits_sent_ + 1;
    reader_unwaited_ = true;
  }
  held_.push_back(Held{wait_seq, std::move(cb), RedisReplyPtr(CopyRedisReply(reply))});
}

void ReplicaGate::EndTurn() {
  if (!writer_unwaited_ && !reader_unwaited_) return;
  if (!writer_.ready()) {
    // Nothing can confirm them: fail what is held now rather than hold it through an outage.
    writer_unwaited_ = reader_unwaited_ = false;
    std::string why = "redis is unreachable: " + writer_.last_error();
    Settle(UINT64_MAX, &why);
    return;
  }
  // One WAIT in flight at a time: Redis blocks the connection behind it anyway, so the turns
  // that pass meanwhile are covered by the next one (bigger batches, not a queue of WAITs).
  if (wait_in_flight_) return;
  wait_in_flight_ = true;
  uint64_t seq = ++waits_sent_;
  ++counters_.waits;
  if (reader_unwaited_) {
    writer_.CommandUngated({"SET", marker_key_, std::to_string(seq), "PX", "60000"},
                           [](Result<const redisReply*>) {});
  }
  writer_unwaited_ = reader_unwaited_ = false;
  writer_.CommandUngated(wait_args_, [this, seq](Result<const redisReply*> r) {
    OnWait(seq, std::move(r));
  });
}

void ReplicaGate::OnWait(uint64_t seq, Result<const redisReply*> r) {
  wait_in_flight_ = false;
  std::string failure;
  if (!r) {
    failure = r.error().message;
  } else if ((*r)->type != REDIS_REPLY_INTEGER) {
    failure = "WAIT: unexpected reply";
  } else if ((*r)->integer < min_replicas_) {
    failure = "confirmed by " + std::to_string((*r)->integer) + " of " +
              std::to_string(min_replicas_) + " replicas within " + std::to_string(timeout_ms_) +
              " ms";
  }
  if (!failure.empty()) {
    ++counters_.short_waits;
    Log()->warn("--redis-min-replicas: {}; the replies it covers fail with store_unavailable",
                failure);
    std::string why = "not confirmed by --redis-min-replicas " + std::to_string(min_replicas_) +
                      " (" + failure + "); retry";
    Settle(seq, &why);
    return;
  }
  Settle(seq, nullptr);
}

// Releases (or fails) every held reply the WAIT `seq` covers, in arrival order. They are
// taken out first (one pass; the rest keep their order): their callbacks send commands,
// which may come back here.
void ReplicaGate::Settle(uint64_t seq, const std::string* failure) {
  std::vector<Held> due;
  size_t kept = 0;
  for (Held& h : held_) {
    if (h.wait_seq <= seq) {
      due.push_back(std::move(h));
    } else {
      if (&held_[kept] != &h) held_[kept] = std::move(h);
      ++kept;
    }
  }
  held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(kept), held_.end());
  for (Held& h : due) {
    if (failure != nullptr) {
      ++counters_.failed;
      h.cb(MakeError(ErrorCode::kStoreUnavailable, *failure));
    } else {
      ++counters_.released;
      h.cb(static_cast<const redisReply*>(h.reply.get()));
    }
  }
}

}  // namespace taskmill::broker
