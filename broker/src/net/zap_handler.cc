#include "net/zap_handler.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "taskmill/shared/curve_keys.h"
#include "taskmill/shared/log.h"

namespace taskmill::broker {
namespace {

auto Log() {
  static auto log = Logger("broker.zap");
  return log;
}

// A request has 7 frames for CURVE (RFC 27); more than this is not a ZAP request.
constexpr size_t kMaxRequestFrames = 16;

}  // namespace

Result<CurveAllowList> CurveAllowList::Load(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return MakeError(ErrorCode::kInvalidArgument, dir + " is not a directory");
  }
  std::vector<fs::path> files;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    // Kubernetes mounts Secrets through "..data" symlinks: follow links, skip dot-files.
    const fs::path& p = it->path();
    if (p.extension() == ".pub" && !p.filename().string().starts_with(".") &&
        fs::is_regular_file(p, ec)) {
      files.push_back(p);
    }
  }
  if (ec) {
    return MakeError(ErrorCode::kInvalidArgument, "cannot list " + dir + ": " + ec.message());
  }
  std::sort(files.begin(), files.end());  // the first of two files with one key names it
  CurveAllowList list;
  list.dir_ = dir;
  for (const auto& path : files) {
    auto key = LoadCurvePublicKey(path.string());
    if (!key) return std::unexpected(key.error());
    auto binary = DecodeZ85Key(*key);
    if (!binary) return std::unexpected(binary.error());
    list.names_.emplace(std::move(*binary), path.stem().string());
  }
  return list;
}

const std::string* CurveAllowList::Find(const std::string& binary_key) const {
  auto it = names_.find(binary_key);
  return it == names_.end() ? nullptr : &it->second;
}

ZapHandler::ZapHandler(zmq::context_t& ctx, CurveAllowList allow, const Clock& clock,
                       std::optional<CurveAllowList> workers, std::optional<CurveAllowList> admins)
    : socket_(ctx, zmq::socket_type::rep),
      allow_(std::move(allow)),
      workers_(std::move(workers)),
      admins_(std::move(admins)),
      clock_(clock) {
  socket_.set(zmq::sockopt::linger, 0);
}

Result<void> ZapHandler::Bind() {
  try {
    socket_.bind(kEndpoint);
  } catch (const zmq::error_t& e) {
    return MakeError(ErrorCode::kInternal,
                     std::string("cannot bind the ZAP handler at ") + kEndpoint + ": " + e.what());
  }
  return {};
}

Result<size_t> ZapHandler::Reload() {
  auto fresh = CurveAllowList::Load(allow_.dir());
  if (!fresh) return std::unexpected(fresh.error());
  std::optional<CurveAllowList> workers, admins;
  if (workers_) {
    auto w = CurveAllowList::Load(workers_->dir());
    if (!w) return std::unexpected(w.error());
    workers = std::move(*w);
  }
  if (admins_) {
    auto a = CurveAllowList::Load(admins_->dir());
    if (!a) return std::unexpected(a.error());
    admins = std::move(*a);
  }
  allow_ = std::move(*fresh);
  workers_ = std::move(workers);
  admins_ = std::move(admins);
  logged_keys_.clear();  // a key refused again after a reload is news
  return allow_.size();
}

void ZapHandler::HandleRequests() {
  // Bounded, so a storm of handshakes cannot keep the reactor from its other sockets.
  for (int n = 0; n < 1000 && HandleOne(); ++n) {
  }
}

bool ZapHandler::HandleOne() {
  std::vector<zmq::message_t> frames;
  bool too_many = false;
  try {
    zmq::message_t first;
    if (!socket_.recv(first, zmq::recv_flags::dontwait)) return false;
    bool more = first.more();
    frames.push_back(std::move(first));
    while (more) {
      zmq::message_t part;
      if (!socket_.recv(part, zmq::recv_flags::none)) break;
      more = part.more();
      if (frames.size() < kMaxRequestFrames) {
        frames.push_back(std::move(part));
      } else {
        too_many = true;
      }
    }
  } catch (const zmq::error_t& e) {
    Log()->warn("ZAP receive failed: {}", e.what());
    return false;
  }
  auto text = [&](size_t i) { return i < frames.size() ? frames[i].to_string() : std::string(); };
  // RFC 27 request: version, request id, domain, address, routing id, mechanism, credentials.
  std::string request_id = text(1);
  std::string mechanism = text(5);
  std::string status = "400";
  std::string status_text;
  std::string user_id;
  if (too_many || frames.size() < 6 || text(0) != "1.0") {
    ++counters_.malformed;
    status_text = "malformed ZAP request";
    Log()->debug("malformed ZAP request ({} frames)", frames.size());
  } else if (mechanism != "CURVE" || frames.size() < 7 || frames[6].size() != kCurveKeyBytes) {
    ++counters_.refused;
    status_text = "CURVE required";
    LogRefusal("", text(3), "mechanism " + mechanism + " (CURVE required)");
  } else {
    std::string key = text(6);
    const std::string* name = allow_.Find(key);
    if (name == nullptr && workers_) name = workers_->Find(key);
    if (name == nullptr && admins_) name = admins_->Find(key);
    if (name != nullptr) {
      ++counters_.allowed;
      status = "200";
      status_text = "OK";
      // The key itself, not the file's name: names may repeat across the role directories,
      // and the broker's role and ownership checks need the one thing a peer cannot choose.
      user_id = EncodeZ85Key(key);
      Log()->debug("allowed CURVE key of '{}' from {}", *name, text(3));
    } else {
      ++counters_.refused;
      status_text = "key not allowed";
      LogRefusal(EncodeZ85Key(key), text(3), "public key not in the allow-list");
    }
  }
  try {
    auto more = zmq::send_flags::sndmore;
    socket_.send(zmq::str_buffer("1.0"), more);
    socket_.send(zmq::buffer(request_id), more);
    socket_.send(zmq::buffer(status), more);
    socket_.send(zmq::buffer(status_text), more);
    socket_.send(zmq::buffer(user_id), more);
    socket_.send(zmq::message_t(), zmq::send_flags::none);  // no metadata
  } catch (const zmq::error_t& e) {
    Log()->warn("ZAP reply failed: {}", e.what());
  }
  return true;
}

void ZapHandler::LogRefusal(const std::string& key_z85, const std::string& address,
                            const std::string& why) {
  // A refused worker reconnects every few seconds: log each key once, and few lines.
  if (!key_z85.empty() && logged_keys_.contains(key_z85)) {
    ++unlogged_refusals_;
    return;
  }
  int64_t now = clock_.MonotonicMs();
  if (now - log_window_start_ms_ >= kRefusalLogWindowMs) {
    log_window_start_ms_ = now;
    logs_in_window_ = 0;
  }
  if (logs_in_window_ >= kMaxRefusalLogsPerWindow) {
    ++unlogged_refusals_;
    return;
  }
  ++logs_in_window_;
  if (!key_z85.empty() && logged_keys_.size() < 10'000) logged_keys_.insert(key_z85);
  Log()->warn("refused CURVE connection from {}: {}{} ({} refused so far, {} not logged)",
              address.empty() ? "?" : address, why, key_z85.empty() ? "" : ": " + key_z85,
              counters_.refused, unlogged_refusals_);
}

}  // namespace taskmill::broker
