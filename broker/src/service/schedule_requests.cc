// ClientService's SCHEDULE verb (docs/protocol-messages.md 8.25): a protocol adapter over the
// store's schedule scripts. The ticking itself is schedule/schedule_ticker.h.

#include "schedule/tick_clock.h"
#include "service/client_service.h"
#include "service/request_checks.h"
#include "taskmill/shared/log.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::broker {
namespace {

auto Log() {
  static auto log = Logger("broker.schedules");
  return log;
}

// The most schedules one list reply carries (a REPLY stays far below any decoder's caps).
constexpr uint32_t kMaxListed = 1000;

}  // namespace

void ClientService::OnSchedule(const std::string& identity, protocol::Schedule& req) {
  uint64_t req_id = req.req_id;
  auto reply_one = [this, identity, req_id](Result<std::optional<StoredSchedule>> r) {
    if (!r) return ReplyError(identity, req_id, r.error());
    protocol::Reply reply;
    reply.req_id = req_id;
    if (*r) {
      reply.schedules.push_back(std::move((*r)->info));
      reply.count = 1;
    }
    Reply(identity, std::move(reply));
  };
  switch (req.op) {
    case protocol::ScheduleOp::kList:
      ctx_.store.ScheduleList({}, "", kMaxListed,
                              [this, identity, req_id](Result<ScheduleListing> r) {
                                if (!r) return ReplyError(identity, req_id, r.error());
                                protocol::Reply reply;
                                reply.req_id = req_id;
                                reply.count = static_cast<uint32_t>(r->total);
                                for (auto& s : r->items) reply.schedules.push_back(std::move(s.info));
                                Reply(identity, std::move(reply));
                              });
      return;
    case protocol::ScheduleOp::kAdd: {
      if (RefuseNewWork(identity, req_id)) return;
      if (!req.schedule) {
        return ReplyError(identity, req_id,
                          Error{ErrorCode::kInvalidArgument,
                                "schedule: SCHEDULE add needs the schedule's definition"});
      }
      protocol::ScheduleInfo& def = *req.schedule;
      if (auto valid = protocol::ValidateSchedule(def, "schedule", TaskLimits(ctx_.options));
          !valid) {
        ++ctx_.counters.schedule_refused;
        Log()->debug("refused a schedule: {}", valid.error().message);
        return ReplyError(identity, req_id, valid.error());
      }
      if (auto zone = TickClock::CheckZone(def.tz); !zone) {
        ++ctx_.counters.schedule_refused;
        return ReplyError(identity, req_id, zone.error());
      }
      auto first = TickClock::NextTick(def, ctx_.clock.NowMs());
      if (!first) return ReplyError(identity, req_id, first.error());
      Log()->info("schedule '{}' added: first tick at {} ms", def.name, *first);
      ctx_.store.SchedulePut(def, *first, caller_.key,
                             [reply_one](Result<StoredSchedule> r) mutable {
                               if (!r) return reply_one(std::unexpected(r.error()));
                               reply_one(std::optional<StoredSchedule>(std::move(*r)));
                             });
      return;
    }
    case protocol::ScheduleOp::kPause:
    case protocol::ScheduleOp::kRemove:
      if (auto valid = protocol::ValidateName(req.name, "name"); !valid) {
        return ReplyError(identity, req_id, valid.error());
      }
      ctx_.store.ScheduleState(req.name, req.op, 0, reply_one);
      return;
    case protocol::ScheduleOp::kResume: {
      if (auto valid = protocol::ValidateName(req.name, "name"); !valid) {
        return ReplyError(identity, req_id, valid.error());
      }
      // Its definition first, for the next tick from now; the script resumes only a paused
      // schedule, so a race with another resume is harmless.
      ctx_.store.ScheduleList(
          {req.name}, "", 1,
          [this, identity, req_id, name = req.name, reply_one](Result<ScheduleListing> r) {
            if (!r) return ReplyError(identity, req_id, r.error());
            if (r->items.empty()) {
              return ReplyError(identity, req_id,
                                Error{ErrorCode::kNotFound, "no schedule named " + name});
            }
            auto next = TickClock::NextTick(r->items[0].info, ctx_.clock.NowMs());
            if (!next) return ReplyError(identity, req_id, next.error());
            ctx_.store.ScheduleState(name, protocol::ScheduleOp::kResume, *next, reply_one);
          });
      return;
    }
  }
}

}  // namespace taskmill::broker
