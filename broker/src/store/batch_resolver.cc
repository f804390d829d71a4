#include "store/batch_resolver.h"

#include <unordered_map>

#include "taskmill/shared/ids.h"

namespace taskmill::broker {
namespace {

enum class Mark : uint8_t { kNew, kOnPath, kDone };

struct Walker {
  const std::vector<protocol::TaskSpec>& tasks;
  const std::unordered_map<std::string, size_t>& index;
  std::vector<Mark> marks;
  std::vector<size_t> path;   // the DFS stack, for naming a cycle
  std::vector<size_t> order;  // post-order: parents first

  Result<void> Visit(size_t i) {
    if (marks[i] == Mark::kDone) return {};
    if (marks[i] == Mark::kOnPath) {
      std::string cycle;
      bool in = false;
      for (size_t p : path) {
        if (p == i) in = true;
        if (in) cycle += tasks[p].name + " -> ";
      }
      cycle += tasks[i].name;
      return MakeError(ErrorCode::kCycle, "batch dependencies form a cycle: " + cycle);
    }
    marks[i] = Mark::kOnPath;
    path.push_back(i);
    for (const auto& parent : tasks[i].depends_on) {
      if (auto r = Visit(index.at(parent)); !r) return r;
    }
    path.pop_back();
    marks[i] = Mark::kDone;
    order.push_back(i);
    return {};
  }
};

}  // namespace

Result<ResolvedBatch> ResolveBatch(protocol::BatchSpec batch,
                                   const std::map<std::string, std::string>& existing) {
  if (batch.tasks.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "a batch needs at least one task");
  }
  ResolvedBatch out;
  out.batch_id = !batch.append_to.empty() ? batch.append_to
                 : batch.id.empty()          ? NewId()
                                             : batch.id;
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < batch.tasks.size(); ++i) {
    const auto& t = batch.tasks[i];
    if (t.name.empty()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "batch task " + std::to_string(i) + " has no name");
    }
    if (!index.emplace(t.name, i).second) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "batch task name '" + t.name + "' is used twice");
    }
    if (existing.contains(t.name)) {
      return MakeError(ErrorCode::kConflict, "batch task name '" + t.name +
                                                 "' is already in batch " + out.batch_id);
    }
  }
  // Parents already in the batch (append): their ids, set aside from the walk (a stored task
  // cannot depend on a new one, so no cycle passes through them).
  std::vector<std::vector<std::string>> stored(batch.tasks.size());
  for (size_t i = 0; i < batch.tasks.size(); ++i) {
    auto& t = batch.tasks[i];
    std::erase_if(t.depends_on, [&](const std::string& parent) {
      auto it = existing.find(parent);
      if (it == existing.end()) return false;
      stored[i].push_back(it->second);
      return true;
    });
    for (const auto& parent : t.depends_on) {
      if (!index.contains(parent)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "batch task '" + t.name + "' depends on unknown task '" + parent + "'");
      }
    }
  }
  Walker w{batch.tasks, index, std::vector<Mark>(batch.tasks.size(), Mark::kNew), {}, {}};
  for (size_t i = 0; i < batch.tasks.size(); ++i) {
    if (auto r = w.Visit(i); !r) return std::unexpected(r.error());
  }
  for (auto& t : batch.tasks) {
    if (t.id.empty()) t.id = NewId();
    t.batch_id = out.batch_id;
    out.ids_by_name[t.name] = t.id;
  }
  out.tasks.reserve(batch.tasks.size());
  for (size_t i : w.order) {
    protocol::TaskSpec t = std::move(batch.tasks[i]);
    for (auto& parent : t.depends_on) parent = out.ids_by_name.at(parent);
    t.depends_on.insert(t.depends_on.end(), stored[i].begin(), stored[i].end());
    out.tasks.push_back(std::move(t));
  }
  return out;
}

}  // namespace taskmill::broker
