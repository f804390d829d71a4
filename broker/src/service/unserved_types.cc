#include "service/unserved_types.h"

#include <algorithm>
#include <unordered_set>

namespace taskmill::broker {

bool WorkerServes(const protocol::WorkerInfo& w, const std::string& queue,
                  const std::string& type) {
  if (std::find(w.queues.begin(), w.queues.end(), queue) == w.queues.end()) return false;
  return w.types.empty() || std::find(w.types.begin(), w.types.end(), type) != w.types.end();
}

std::vector<std::string> UnservedTypeWarnings(const WorkerRegistry& workers,
                                              const std::vector<protocol::TaskSpec>& tasks,
                                              const ServedElsewhere& elsewhere) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;  // queue + '\0' + type of the unserved pairs
  const protocol::TaskSpec* last_served = nullptr;  // tasks of one SUBMIT mostly share both
  for (const auto& t : tasks) {
    if (last_served != nullptr && last_served->queue == t.queue && last_served->type == t.type) {
      continue;
    }
    if (workers.AnyServes(t.queue, t.type) || (elsewhere && elsewhere(t.queue, t.type))) {
      last_served = &t;
      continue;
    }
    if (!seen.insert(t.queue + '\0' + t.type).second) continue;
    if (out.size() < kMaxUnservedWarnings) {
      out.push_back("no connected worker serves type '" + t.type + "' in queue '" + t.queue +
                    "'; its tasks wait until one does");
    }
  }
  if (seen.size() > kMaxUnservedWarnings) {
    out.push_back("and " + std::to_string(seen.size() - kMaxUnservedWarnings) +
                  " more task types that no connected worker serves");
  }
  return out;
}

}  // namespace taskmill::broker
