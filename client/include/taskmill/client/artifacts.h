#pragma once

// Writing a task's artifacts (protocol.md 7.4.1) to a local directory: inline ones from the
// task record, kept ones copied from the workers' artifacts volume (their file:// uri, or
// the same <task>/<attempt>/<name> under `artifacts_root` where the volume is mounted
// elsewhere). Names are checked again here, never trusted from the record, and every file's
// sha256 is verified. Free functions; they block on file I/O on the caller's thread.

#include <string>
#include <vector>

#include "taskmill/client/client.h"
#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/types.h"

namespace taskmill::client {

struct ArtifactFetchOptions {
  // Where this host mounts the workers' --artifacts-dir; empty: read the uri's path as is.
  std::string artifacts_root;
};

// Writes every artifact of `task` under `out_dir` (created if missing) as out_dir/<name>;
// returns the paths written, in the task's order. Errors: a name that could leave out_dir,
// a uri that is not this task's artifact, an unreadable source, a sha256 or size mismatch
// (the file is removed then).
Result<std::vector<std::string>> WriteArtifacts(const protocol::TaskInfo& task,
                                                const std::string& out_dir,
                                                const ArtifactFetchOptions& options = {});

// GET of `task_id` (authorised as any GET), then WriteArtifacts.
Result<std::vector<std::string>> FetchArtifacts(Client& client, const std::string& task_id,
                                                const std::string& out_dir,
                                                const ArtifactFetchOptions& options = {});

}  // namespace taskmill::client
