// Client's LIST and UPDATE calls (client.h; docs/protocol-messages.md 8.28, 8.29).

#include "taskmill/client/client.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::client {

Result<ListPage> Client::List(protocol::List list) {
  if (auto valid = protocol::ValidateList(list); !valid) return std::unexpected(valid.error());
  auto reply = Call(std::move(list));
  if (!reply) return std::unexpected(reply.error());
  ListPage page;
  page.tasks = std::move(reply->tasks);
  page.batches = std::move(reply->batches);
  page.next_cursor = std::move(reply->next_cursor);
  return page;
}

Result<ListPage> Client::ListTasks(const std::string& queue, const std::string& state,
                                   const std::string& type, uint32_t limit,
                                   const std::string& cursor) {
  protocol::List list;
  list.queue = queue;
  list.state = state;
  list.type = type;
  list.limit = limit;
  list.cursor = cursor;
  return List(std::move(list));
}

Result<ListPage> Client::ListBatches(const std::string& state, uint32_t limit,
                                     const std::string& cursor) {
  protocol::List list;
  list.what = "batches";
  list.state = state;
  list.limit = limit;
  list.cursor = cursor;
  return List(std::move(list));
}

namespace {

Result<protocol::TaskInfo> Updated(Result<protocol::Reply> reply) {
  if (!reply) return std::unexpected(reply.error());
  if (reply->tasks.empty()) {
    return MakeError(ErrorCode::kInternal, "the broker's UPDATE reply carries no task");
  }
  return std::move(reply->tasks.front());
}

}  // namespace

Result<protocol::TaskInfo> Client::SetPriority(const std::string& id, uint32_t priority) {
  protocol::Update u;
  u.id = id;
  u.op = "priority";
  u.priority = priority;
  if (auto valid = protocol::ValidateUpdate(u); !valid) return std::unexpected(valid.error());
  return Updated(Call(std::move(u)));
}

Result<protocol::TaskInfo> Client::Promote(const std::string& id) {
  protocol::Update u;
  u.id = id;
  u.op = "promote";
  if (auto valid = protocol::ValidateUpdate(u); !valid) return std::unexpected(valid.error());
  return Updated(Call(std::move(u)));
}

}  // namespace taskmill::client
