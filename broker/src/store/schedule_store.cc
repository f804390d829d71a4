// Store's schedule verbs (store.h, "Schedules"): each one script call.

#include "store/store.h"
#include "store/store_wire.h"
#include "taskmill/shared/ids.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::broker {

void Store::SchedulePut(const protocol::ScheduleInfo& def, int64_t next_ms, std::string owner,
                        Callback<StoredSchedule> cb) {
  if (auto r = protocol::ValidateSchedule(def, "schedule"); !r) {
    return cb(std::unexpected(r.error()));
  }
  Send<StoredSchedule>(kSchedulePut, clock_.NowMs(), wire::SchedulePutArgs(def, next_ms, owner),
                       std::move(cb), [](const redisReply* r) -> Result<StoredSchedule> {
                         auto s = wire::ParseScheduleHash(r);
                         if (!s) return std::unexpected(s.error());
                         if (!*s) return MakeError(ErrorCode::kInternal, "schedule not stored");
                         return std::move(**s);
                       });
}

void Store::ScheduleList(std::vector<std::string> names, std::string after, uint32_t limit,
                         Callback<ScheduleListing> cb) {
  Send<ScheduleListing>(kScheduleList, clock_.NowMs(),
                        wire::ScheduleListArgs(names, after, limit), std::move(cb),
                        wire::ParseScheduleListing);
}

void Store::ScheduleState(std::string name, protocol::ScheduleOp op, int64_t next_ms,
                          Callback<std::optional<StoredSchedule>> cb) {
  if (op != protocol::ScheduleOp::kPause && op != protocol::ScheduleOp::kResume &&
      op != protocol::ScheduleOp::kRemove) {
    return cb(MakeError(ErrorCode::kInvalidArgument, "schedule state: op must be pause, "
                                                     "resume or remove"));
  }
  if (auto r = protocol::ValidateName(name, "name"); !r) return cb(std::unexpected(r.error()));
  Send<std::optional<StoredSchedule>>(
      kScheduleState, clock_.NowMs(),
      wire::ScheduleStateArgs(name, protocol::ScheduleOpName(op), next_ms), std::move(cb),
      wire::ParseScheduleHash);
}

void Store::ScheduleDue(uint32_t limit, Callback<ScheduleListing> cb) {
  Send<ScheduleListing>(kScheduleDue, clock_.NowMs(), wire::ScheduleListArgs({}, "", limit),
                        std::move(cb), wire::ParseScheduleListing);
}

void Store::EnqueueTick(protocol::TaskSpec spec, const std::string& owner, const TickClaim& tick,
                        Callback<TickOutcome> cb) {
  if (spec.id.empty()) spec.id = NewId();
  if (auto r = ValidateSpec(spec, "schedule.task"); !r) return cb(std::unexpected(r.error()));
  int64_t now = clock_.NowMs();
  std::string args = wire::EnqueueArgs(options_.max_queue_depth, "", {}, {spec}, {owner}, {},
                                       now, &tick);
  Send<TickOutcome>(kEnqueue, now, std::move(args), std::move(cb), wire::ParseTick);
}

}  // namespace taskmill::broker
