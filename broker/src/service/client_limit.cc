// LIMIT: a queue's limits and fairness (`taskmill queue limit`), checked here and stored by
// limit.lua; enforced by claim.lua on every broker (broker/src/lua/lib/limits.lua).

#include "service/client_service.h"
#include "taskmill/shared/limit_spec.h"
#include "taskmill/shared/log.h"

namespace taskmill::broker {
namespace {

auto Log() {
  static auto log = Logger("broker.clients");
  return log;
}

}  // namespace

void ClientService::OnLimit(const std::string& identity, protocol::Limit& limit) {
  auto parsed = ParseQueueLimits(limit);
  if (!parsed) {
    // Untrusted input: a clear error back, a counter, a debug line; nothing stored.
    ++ctx_.counters.bad_limits;
    Log()->debug("LIMIT refused: {}", parsed.error().message);
    return ReplyError(identity, limit.req_id, parsed.error());
  }
  Log()->info("queue {}: limits {}", limit.queue,
              limit.clear ? std::string("cleared") : parsed->Text());
  ctx_.store.SetLimit(limit.queue, limit.clear, *parsed,
                      [this, identity, req_id = limit.req_id,
                       queue = limit.queue](Result<std::string> r) {
                        if (!r) return ReplyError(identity, req_id, r.error());
                        protocol::Reply reply;
                        reply.req_id = req_id;
                        protocol::QueueStats q;
                        q.queue = queue;
                        q.limit = std::move(*r);
                        reply.queues.push_back(std::move(q));
                        reply.count = 1;
                        Reply(identity, std::move(reply));
                      });
}

}  // namespace taskmill::broker
