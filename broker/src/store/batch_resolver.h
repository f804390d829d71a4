#pragma once

#include <map>
#include <string>
#include <vector>

#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/types.h"

namespace taskmill::broker {

// A batch ready for Store::EnqueueBatch.
struct ResolvedBatch {
  std::string batch_id;                   // the spec's, or a new one
  std::vector<protocol::TaskSpec> tasks;  // parents before children; depends_on = ids
  std::map<std::string, std::string> ids_by_name;
};

// Pure: gives every task an id (NewId unless set) and the batch id, replaces depends_on
// names by task ids and orders parents before children (input order otherwise). Rejects an
// empty batch, missing or duplicate names and unknown parents (kInvalidArgument, naming
// them) and cycles (kCycle, with the path, e.g. "a -> b -> a").
// `existing` (BATCH append_to: the batch's tasks, name -> id): parents may also be these
// (their ids are used, they come before every new task), and a new task may not take one of
// their names (kConflict). ids_by_name then holds the new tasks only.
Result<ResolvedBatch> ResolveBatch(protocol::BatchSpec batch,
                                   const std::map<std::string, std::string>& existing = {});

}  // namespace taskmill::broker
