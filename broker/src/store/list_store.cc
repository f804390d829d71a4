// Store's LIST and UPDATE verbs (store.h): one script call each (list.lua, update.lua).

#include "store/store.h"
#include "store/store_wire.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::broker {

void Store::List(const protocol::List& req, std::string owner, uint32_t scan,
                 Callback<ListPage> cb) {
  if (auto r = protocol::ValidateList(req); !r) return cb(std::unexpected(r.error()));
  Send<ListPage>(kList, clock_.NowMs(), wire::ListArgs(req, owner, std::max(scan, req.limit)),
                 std::move(cb), wire::ParseList);
}

void Store::Update(const protocol::Update& req, std::string owner,
                   Callback<protocol::TaskInfo> cb) {
  if (auto r = protocol::ValidateUpdate(req); !r) return cb(std::unexpected(r.error()));
  Send<protocol::TaskInfo>(
      kUpdate, clock_.NowMs(), wire::UpdateArgs(req, owner), std::move(cb),
      [](const redisReply* r) -> Result<protocol::TaskInfo> {
        auto tasks = wire::ParseTasks(r);
        if (!tasks) return std::unexpected(tasks.error());
        if (tasks->size() != 1 || !(*tasks)[0]) {
          return MakeError(ErrorCode::kInternal, "unexpected store reply: update without task");
        }
        return std::move(*(*tasks)[0]);
      });
}

}  // namespace taskmill::broker
