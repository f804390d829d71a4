// The store's side of the schedule scripts (schedule_put/list/state/due.lua and enqueue.lua's
// tick): arguments encoded as msgpack, replies read back into typed results. Every mismatch
// is kInternal naming the field, never a crash (store_wire.h).

#include <charconv>
#include <map>

#include "redis/reply.h"
#include "store/msgpack_read.h"
#include "store/msgpack_writer.h"
#include "store/store_wire.h"
#include "taskmill/shared/protocol/codec.h"

#define TM_ASSIGN_OR_RETURN(lhs, expr)                     \
  auto lhs##_or = (expr);                                  \
  if (!lhs##_or) return std::unexpected(lhs##_or.error()); \
  auto lhs = std::move(*lhs##_or)

namespace taskmill::broker::wire {
namespace {

int64_t ToInt(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) return 0;
  int64_t v = 0;
  std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  return v;
}

// A flat HGETALL of sched:<name>: the definition (a SCHEDULE add body, decoded with the
// protocol's limits) overlaid with the run state.
Result<std::optional<StoredSchedule>> FromHash(const msgpack::object& o) {
  TM_ASSIGN_OR_RETURN(flat, mp::Strings(o, "schedule hash"));
  if (flat.empty()) return std::optional<StoredSchedule>();
  if (flat.size() % 2 != 0) return mp::Bad("schedule hash", "has an odd length");
  std::map<std::string, std::string> m;
  for (size_t i = 0; i + 1 < flat.size(); i += 2) m[flat[i]] = flat[i + 1];
  auto def = protocol::DecodeBody(protocol::Command::kSchedule, m["def"]);
  if (!def) return mp::Bad("schedule def", def.error().message);
  auto* body = std::get_if<protocol::Schedule>(&*def);
  if (body == nullptr || !body->schedule) return mp::Bad("schedule def", "has no schedule");
  StoredSchedule out;
  out.info = std::move(*body->schedule);
  out.owner = m["owner"];
  out.info.paused = m["paused"] == "1";
  out.info.next_run_ms = ToInt(m, "next_run");
  out.info.last_run_ms = ToInt(m, "last_run");
  out.info.last_task_id = m["last_task"];
  out.info.fired = static_cast<uint64_t>(ToInt(m, "fired"));
  out.info.missed = static_cast<uint64_t>(ToInt(m, "missed"));
  return std::optional<StoredSchedule>(std::move(out));
}

}  // namespace

std::string SchedulePutArgs(const protocol::ScheduleInfo& def, int64_t next_ms,
                            const std::string& owner) {
  protocol::ScheduleInfo clean;  // the definition only: run state lives in the hash
  clean.name = def.name;
  clean.cron = def.cron;
  clean.tz = def.tz;
  clean.every_ms = def.every_ms;
  clean.catch_up = def.catch_up;
  clean.task = def.task;
  MsgpackWriter w;
  w.Map(4);
  w.Str("name");
  w.Str(def.name);
  w.Str("def");
  w.Str(protocol::EncodeBody(protocol::Schedule{0, protocol::ScheduleOp::kAdd, "", clean}));
  w.Str("next");
  w.Str(std::to_string(next_ms));
  w.Str("owner");
  w.Str(owner);
  return w.Take();
}

std::string ScheduleListArgs(const std::vector<std::string>& names, const std::string& after,
                             uint32_t limit) {
  MsgpackWriter w;
  w.Map(names.empty() ? 2 : 3);
  if (!names.empty()) {
    w.Str("names");
    w.Array(static_cast<uint32_t>(names.size()));
    for (const auto& n : names) w.Str(n);
  }
  w.Str("after");
  w.Str(after);
  w.Str("limit");
  w.Uint(limit);
  return w.Take();
}

std::string ScheduleStateArgs(const std::string& name, std::string_view op, int64_t next_ms) {
  MsgpackWriter w;
  w.Map(3);
  w.Str("name");
  w.Str(name);
  w.Str("op");
  w.Str(op);
  w.Str("next");
  w.Str(std::to_string(next_ms));
  return w.Take();
}

Result<std::optional<StoredSchedule>> ParseScheduleHash(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(packed, Unpack(r, "schedule reply"));
  TM_ASSIGN_OR_RETURN(top, mp::Map(packed.get(), "schedule reply"));
  return FromHash(mp::Get(top, "hash"));
}

Result<ScheduleListing> ParseScheduleListing(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(packed, Unpack(r, "schedule list"));
  TM_ASSIGN_OR_RETURN(top, mp::Map(packed.get(), "schedule list"));
  TM_ASSIGN_OR_RETURN(items, mp::Array(mp::Get(top, "items"), "schedule items"));
  TM_ASSIGN_OR_RETURN(total, mp::Int(mp::Get(top, "total"), "schedule total"));
  ScheduleListing out;
  out.total = static_cast<uint64_t>(std::max<int64_t>(total, 0));
  for (const auto& e : items) {
    TM_ASSIGN_OR_RETURN(f, mp::Map(e, "schedule item"));
    TM_ASSIGN_OR_RETURN(s, FromHash(mp::Get(f, "hash")));
    if (s) out.items.push_back(std::move(*s));
  }
  return out;
}

Result<TickOutcome> ParseTick(const redisReply* r) {
  TM_ASSIGN_OR_RETURN(packed, Unpack(r, "tick reply"));
  TM_ASSIGN_OR_RETURN(top, mp::Map(packed.get(), "tick reply"));
  TM_ASSIGN_OR_RETURN(status, mp::Str(mp::Get(top, "tick"), "tick status"));
  TickOutcome out;
  if (status == "lost") {
    out.status = TickStatus::kLost;
  } else if (status == "skipped") {
    out.status = TickStatus::kSkipped;
  } else if (status == "full") {
    out.status = TickStatus::kFull;
  } else if (status == "claimed") {
    out.status = TickStatus::kClaimed;
    TM_ASSIGN_OR_RETURN(items, mp::Array(mp::Get(top, "items"), "tick items"));
    if (items.size() != 1) return mp::Bad("tick items", "are not one item");
    TM_ASSIGN_OR_RETURN(item, mp::Map(items[0], "tick item"));
    TM_ASSIGN_OR_RETURN(s, mp::Str(mp::Get(item, "s"), "tick item status"));
    TM_ASSIGN_OR_RETURN(id, mp::Str(mp::Get(item, "id"), "tick task id"));
    if (s == "error") {
      TM_ASSIGN_OR_RETURN(msg, mp::Str(mp::Get(item, "msg"), "tick item error"));
      return MakeError(ErrorCode::kInternal, "schedule tick task not stored: " + std::string(msg));
    }
    out.task_id = std::string(id);
    out.duplicate = s == "duplicate";
  } else {
    return mp::Bad("tick status", "is not claimed, skipped, full or lost");
  }
  return out;
}

}  // namespace taskmill::broker::wire
