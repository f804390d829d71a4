#include "handlers/artifacts.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <expected>
#include <filesystem>

#include "handlers/child_process.h"
#include "taskmill/shared/log.h"
#include "taskmill/shared/protocol/validate.h"
#include "taskmill/shared/sha256.h"

namespace taskmill::worker {
namespace {

constexpr int kMaxDepth = 16;  // nesting of directories under the artifacts dir

using Failure = std::unexpected<ArtifactFailure>;

Failure Refused(std::string message) {
  return std::unexpected(ArtifactFailure{"artifact_refused", std::move(message), false});
}
Failure TooLarge(std::string message) {
  return std::unexpected(ArtifactFailure{"artifacts_too_large", std::move(message), false});
}
Failure Io(std::string message, int err) {
  return std::unexpected(
      ArtifactFailure{"artifacts_io", message + ": " + std::strerror(err), true});
}

// One file found by the walk, opened without following links.
struct Found {
  std::string name;
  UniqueFd fd;
};

// Lists the regular files under `dir_fd` as `prefix`/<name>. Every entry is opened with
// O_NOFOLLOW relative to its parent's fd, so a symlink (or one swapped in later) can never
// take the walk outside the artifacts dir.
std::expected<void, ArtifactFailure> Walk(int dir_fd, const std::string& prefix, int depth,
                                          const ExecOptions& options, std::vector<Found>& out) {
  if (depth > kMaxDepth) return Refused("artifacts nest deeper than " + std::to_string(kMaxDepth));
  int listing_fd = dup(dir_fd);
  if (listing_fd < 0) return Io("dup", errno);
  DIR* dir = fdopendir(listing_fd);
  if (dir == nullptr) {
    close(listing_fd);
    return Io("cannot list artifacts", errno);
  }
  std::vector<std::string> entries;
  while (dirent* e = readdir(dir)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") entries.push_back(std::move(n));
    if (entries.size() > options.max_artifacts + 64) break;  // the count check below says so
  }
  closedir(dir);
  std::sort(entries.begin(), entries.end());
  for (const auto& entry : entries) {
    std::string name = prefix.empty() ? entry : prefix + "/" + entry;
    struct stat st {};
    if (fstatat(dir_fd, entry.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Io("cannot stat artifact " + name, errno);
    }
    if (S_ISLNK(st.st_mode)) {
      return Refused("artifact '" + name + "' is a symbolic link (refused: it could point " +
                     "outside the artifacts dir); copy the file instead");
    }
    if (S_ISDIR(st.st_mode)) {
      UniqueFd sub(openat(dir_fd, entry.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub.valid()) return Io("cannot open artifact dir " + name, errno);
      if (auto r = Walk(sub.get(), name, depth + 1, options, out); !r) return r;
      continue;
    }
    if (!S_ISREG(st.st_mode)) return Refused("artifact '" + name + "' is not a regular file");
    if (auto ok = protocol::ValidateArtifactName(name); !ok) return Refused(ok.error().message);
    if (out.size() >= options.max_artifacts) {
      return TooLarge("more than " + std::to_string(options.max_artifacts) +
                      " artifacts (the worker's --max-artifacts)");
    }
    UniqueFd fd(openat(dir_fd, entry.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd.valid()) return Io("cannot open artifact " + name, errno);
    if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return Refused("artifact '" + name + "' is not a regular file");
    }
    out.push_back({name, std::move(fd)});
  }
  return {};
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t w = write(fd, data.data(), data.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data.remove_prefix(static_cast<size_t>(w));
  }
  return true;
}

}  // namespace

std::expected<std::vector<protocol::Artifact>, ArtifactFailure> KeepArtifacts(
    const std::string& source, const std::string& task_id, uint32_t attempt,
    const ExecOptions& options) {
  std::vector<protocol::Artifact> kept;
  UniqueFd root(open(source.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root.valid()) {
    if (errno == ENOENT) return kept;  // the process removed it: nothing to keep
    if (errno == ELOOP || errno == ENOTDIR) {
      return Refused("$TASKMILL_ARTIFACTS_DIR was replaced by a link or a file");
    }
    return Io("cannot open the artifacts dir", errno);
  }
  std::vector<Found> found;
  if (auto r = Walk(root.get(), "", 0, options, found); !r) return std::unexpected(r.error());
  if (found.empty()) return kept;

  // Where files too big to travel inline go: a fresh <task>/<attempt>.partial, renamed to
  // <task>/<attempt> once complete, so a reader never sees half of an attempt's files.
  std::filesystem::path final_dir, partial_dir;
  if (!options.artifacts_dir.empty()) {
    if (auto ok = protocol::ValidateName(task_id, "task id"); !ok) {
      return Refused("cannot keep artifacts of a task whose id is not a file name");
    }
    final_dir = std::filesystem::path(options.artifacts_dir) / task_id / std::to_string(attempt);
    partial_dir = final_dir;
    partial_dir += ".partial";
    std::error_code ec;
    std::filesystem::remove_all(partial_dir, ec);
    std::filesystem::remove_all(final_dir, ec);  // a redelivered attempt starts over
  }

  uint64_t total = 0, inline_bytes = 0;
  char buf[65536];
  for (auto& f : found) {
    protocol::Artifact a;
    a.name = f.name;
    Sha256 hash;
    std::string data;
    UniqueFd out;
    bool to_disk = false;
    struct stat st {};
    fstat(f.fd.get(), &st);
    uint64_t declared = static_cast<uint64_t>(st.st_size);
    if (inline_bytes + declared > options.artifacts_inline_bytes) {
      if (options.artifacts_dir.empty()) {
        return TooLarge("artifact '" + f.name + "' (" + std::to_string(declared) +
                        " bytes) does not fit the inline budget of " +
                        std::to_string(options.artifacts_inline_bytes) +
                        " bytes per attempt and this worker has no --artifacts-dir");
      }
      to_disk = true;
      std::filesystem::path dest = partial_dir / f.name;
      std::error_code ec;
      std::filesystem::create_directories(dest.parent_path(), ec);
      if (ec) return Io("cannot create " + dest.parent_path().string(), ec.value());
      out = UniqueFd(open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
      if (!out.valid()) return Io("cannot create " + dest.string(), errno);
      a.uri = "file://" + (final_dir / f.name).string();
    }
    while (true) {
      ssize_t n = read(f.fd.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Io("cannot read artifact " + f.name, errno);
      if (n == 0) break;
      a.size += static_cast<uint64_t>(n);
      total += static_cast<uint64_t>(n);
      if (total > options.max_artifact_bytes) {
        std::error_code ec;
        if (!partial_dir.empty()) std::filesystem::remove_all(partial_dir, ec);
        return TooLarge("artifacts are more than " + std::to_string(options.max_artifact_bytes) +
                        " bytes in all (the worker's --max-artifact-bytes)");
      }
      std::string_view chunk(buf, static_cast<size_t>(n));
      hash.Update(chunk);
      if (to_disk) {
        if (!WriteAll(out.get(), chunk)) return Io("cannot write artifact " + f.name, errno);
      } else {
        data.append(chunk);
        if (inline_bytes + data.size() > options.artifacts_inline_bytes) {
          return TooLarge("artifact '" + f.name + "' grew past the inline budget while read");
        }
      }
    }
    a.sha256 = hash.HexDigest();
    if (!to_disk) {
      inline_bytes += data.size();
      a.data = std::move(data);
    }
    kept.push_back(std::move(a));
  }
  if (!partial_dir.empty() && std::filesystem::exists(partial_dir)) {
    std::error_code ec;
    std::filesystem::rename(partial_dir, final_dir, ec);
    if (ec) return Io("cannot move artifacts into place", ec.value());
  }
  return kept;
}

size_t SweepArtifacts(const std::string& dir, uint64_t retention_hours, int64_t now_s) {
  if (dir.empty() || retention_hours == 0) return 0;
  int64_t cutoff = now_s - static_cast<int64_t>(retention_hours) * 3600;
  size_t removed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    struct stat st {};
    if (lstat(entry.path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    if (st.st_mtime >= cutoff) continue;
    std::error_code rm;
    std::filesystem::remove_all(entry.path(), rm);
    if (!rm) ++removed;
  }
  if (ec) Logger("worker.exec")->warn("cannot sweep {}: {}", dir, ec.message());
  return removed;
}

}  // namespace taskmill::worker
