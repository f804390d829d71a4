// LIST (a page of a queue's tasks in one state, or of batches) and UPDATE (a waiting task's
// priority, or a delayed task made ready now): checked here, answered by list.lua and
// update.lua (store.h). Owners as GET and CANCEL: under CURVE a client sees and changes only
// its own tasks, an admin every one.

#include "lifecycle/task_lifecycle.h"
#include "service/client_service.h"
#include "taskmill/shared/log.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::broker {
namespace {

auto Log() {
  static auto log = Logger("broker.clients");
  return log;
}

// Index entries one LIST call reads at most, whatever its filters skip (list.lua).
constexpr uint32_t kListScanEntries = 2000;

}  // namespace

void ClientService::OnList(const std::string& identity, protocol::List& req) {
  if (auto ok = protocol::ValidateList(req); !ok) {
    ++ctx_.counters.bad_lists;
    Log()->debug("LIST refused: {}", ok.error().message);
    return ReplyError(identity, req.req_id, ok.error());
  }
  ctx_.store.List(req, OwnerFilter(), kListScanEntries,
                  [this, identity, req_id = req.req_id](Result<ListPage> r) {
                    if (!r) {
                      if (r.error().code == ErrorCode::kInvalidArgument) ++ctx_.counters.bad_lists;
                      return ReplyError(identity, req_id, r.error());
                    }
                    protocol::Reply reply;
                    reply.req_id = req_id;
                    reply.tasks = std::move(r->tasks);
                    reply.batches = std::move(r->batches);
                    reply.count = static_cast<uint32_t>(reply.tasks.size() + reply.batches.size());
                    reply.next_cursor = std::move(r->next);
                    Reply(identity, std::move(reply));
                  });
}

void ClientService::OnUpdate(const std::string& identity, protocol::Update& req) {
  if (auto ok = protocol::ValidateUpdate(req); !ok) {
    ++ctx_.counters.bad_lists;
    Log()->debug("UPDATE refused: {}", ok.error().message);
    return ReplyError(identity, req.req_id, ok.error());
  }
  if (RefuseNewWork(identity, req.req_id)) return;
  Log()->debug("UPDATE {} {} {}", req.id, req.op, req.priority);
  ctx_.store.Update(req, OwnerFilter(),
                    [this, identity, req_id = req.req_id](Result<protocol::TaskInfo> r) {
                      if (!r) return ReplyError(identity, req_id, r.error());
                      // A promoted task is ready now: wake the queue's idle workers.
                      if (r->state == protocol::TaskState::kQueued) {
                        ctx_.lifecycle.QueuesReady({r->queue});
                      }
                      protocol::Reply reply;
                      reply.req_id = req_id;
                      reply.ids = {r->id};
                      reply.count = 1;
                      reply.tasks.push_back(std::move(*r));
                      Reply(identity, std::move(reply));
                    });
}

}  // namespace taskmill::broker
