#include "taskmill/client/artifacts.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "taskmill/shared/protocol/validate.h"
#include "taskmill/shared/sha256.h"

namespace taskmill::client {
namespace {

std::unexpected<Error> Bad(const std::string& message) {
  return MakeError(ErrorCode::kInvalidArgument, message);
}

std::unexpected<Error> Io(const std::string& what, int err) {
  return MakeError(ErrorCode::kInternal, what + ": " + std::strerror(err));
}

// Closes on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// The local path of a kept artifact: its uri must end in /<task id>/<attempt>/<name>, the
// layout workers write, so a record cannot point a client at any other file.
Result<std::string> SourcePath(const protocol::TaskInfo& task, const protocol::Artifact& a,
                               const ArtifactFetchOptions& options) {
  constexpr std::string_view kScheme = "file://";
  if (!a.uri.starts_with(kScheme)) return Bad("artifact " + a.name + ": uri is not file://");
  std::string path = a.uri.substr(kScheme.size());
  std::string tail = "/" + a.name;
  if (!path.ends_with(tail)) return Bad("artifact " + a.name + ": uri does not end in its name");
  std::string dir = path.substr(0, path.size() - tail.size());  // .../<task>/<attempt>
  auto slash = dir.rfind('/');
  if (slash == std::string::npos) return Bad("artifact " + a.name + ": uri has no attempt dir");
  std::string attempt = dir.substr(slash + 1);
  dir.resize(slash);
  bool digits = !attempt.empty() && attempt.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || !dir.ends_with("/" + task.id)) {
    return Bad("artifact " + a.name + ": uri is not under <artifacts dir>/" + task.id +
               "/<attempt>/");
  }
  if (options.artifacts_root.empty()) return path;
  return (std::filesystem::path(options.artifacts_root) / task.id / attempt / a.name).string();
}

Result<void> WriteOne(const protocol::TaskInfo& task, const protocol::Artifact& a,
                      const std::string& dest, const ArtifactFetchOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dest).parent_path(), ec);
  if (ec) return Io("cannot create the directory of " + dest, ec.value());
  Fd out{open(dest.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644)};
  if (out.fd < 0) return Io("cannot write " + dest, errno);
  Sha256 hash;
  uint64_t size = 0;
  auto put = [&](std::string_view chunk) -> bool {
    hash.Update(chunk);
    size += chunk.size();
    while (!chunk.empty()) {
      ssize_t w = write(out.fd, chunk.data(), chunk.size());
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      chunk.remove_prefix(static_cast<size_t>(w));
    }
    return true;
  };
  if (a.uri.empty()) {
    if (!put(a.data)) return Io("cannot write " + dest, errno);
  } else {
    auto source = SourcePath(task, a, options);
    if (!source) return std::unexpected(source.error());
    Fd in{open(source->c_str(), O_RDONLY | O_CLOEXEC)};
    if (in.fd < 0) {
      return Io("cannot read artifact " + a.name + " at " + *source +
                    " (is the workers' --artifacts-dir mounted here? see --artifacts-root)",
                errno);
    }
    char buf[65536];
    while (true) {
      ssize_t n = read(in.fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Io("cannot read " + *source, errno);
      if (n == 0) break;
      if (!put(std::string_view(buf, static_cast<size_t>(n)))) return Io("cannot write " + dest, errno);
    }
  }
  if (size != a.size || hash.HexDigest() != a.sha256) {
    return MakeError(ErrorCode::kInternal, "artifact " + a.name +
                                               ": content does not match its size and sha256 "
                                               "(changed or damaged since it was kept)");
  }
  return {};
}

}  // namespace

Result<std::vector<std::string>> WriteArtifacts(const protocol::TaskInfo& task,
                                                const std::string& out_dir,
                                                const ArtifactFetchOptions& options) {
  // Every name first: nothing is written for a record that holds one bad name.
  for (const auto& a : task.artifacts) {
    if (auto ok = protocol::ValidateArtifactName(a.name); !ok) {
      return Bad("task " + task.id + ": " + ok.error().message + "; nothing written");
    }
  }
  std::vector<std::string> written;
  for (const auto& a : task.artifacts) {
    std::string dest = (std::filesystem::path(out_dir) / a.name).string();
    if (auto r = WriteOne(task, a, dest, options); !r) {
      std::error_code ec;
      std::filesystem::remove(dest, ec);
      return std::unexpected(r.error());
    }
    written.push_back(std::move(dest));
  }
  return written;
}

Result<std::vector<std::string>> FetchArtifacts(Client& client, const std::string& task_id,
                                                const std::string& out_dir,
                                                const ArtifactFetchOptions& options) {
  auto task = client.Get(task_id);
  if (!task) return std::unexpected(task.error());
  return WriteArtifacts(*task, out_dir, options);
}

}  // namespace taskmill::client
