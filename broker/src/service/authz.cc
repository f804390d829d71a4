#include "service/authz.h"

#include <algorithm>

#include "net/zap_handler.h"
#include "taskmill/shared/curve_keys.h"

namespace taskmill::broker {

std::string RoleNames(Roles roles) {
  std::string out;
  for (auto [role, name] : {std::pair{kRoleClient, "client"}, std::pair{kRoleWorker, "worker"},
                            std::pair{kRoleAdmin, "admin"}}) {
    if ((roles & role) == 0) continue;
    if (!out.empty()) out += ",";
    out += name;
  }
  return out.empty() ? "none" : out;
}

Principal AccessPolicy::Identify(std::string_view user_id) const {
  Principal p;
  if (zap_ == nullptr) {
    p.roles = kRoleClient | kRoleWorker | kRoleAdmin;
    return p;
  }
  p.key = std::string(user_id);
  auto binary = DecodeZ85Key(user_id);
  if (!binary) return p;  // no key (cannot happen under CURVE): no role
  const CurveAllowList* workers = zap_->worker_list();
  const CurveAllowList* admins = zap_->admin_list();
  const std::string* name = zap_->allow_list().Find(*binary);
  if (name != nullptr) {
    p.name = *name;
    p.roles |= kRoleClient;
    // --curve-roles=shared: without a directory of its own, a role belongs to every client
    // key (the one allow-list of before roles). By default a role comes from its directory.
    if (shared_roles_ && workers == nullptr) p.roles |= kRoleWorker;
    if (shared_roles_ && admins == nullptr) p.roles |= kRoleAdmin;
  }
  if (workers != nullptr) {
    if (const std::string* n = workers->Find(*binary)) {
      p.roles |= kRoleWorker;
      if (p.name.empty()) p.name = *n;
    }
  }
  if (admins != nullptr) {
    if (const std::string* n = admins->Find(*binary)) {
      p.roles |= kRoleAdmin;
      if (p.name.empty()) p.name = *n;
    }
  }
  return p;
}

Result<void> AccessPolicy::Require(const Principal& p, Roles any_of, std::string_view what) const {
  if ((p.roles & any_of) != 0) return {};
  // Name the least powerful role that would do, and where its keys are listed.
  Role needed = (any_of & kRoleClient) != 0   ? kRoleClient
                : (any_of & kRoleWorker) != 0 ? kRoleWorker
                                              : kRoleAdmin;
  const char* dir = needed == kRoleClient   ? "--curve-allow-dir"
                    : needed == kRoleWorker ? "--curve-worker-allow-dir"
                                            : "--curve-admin-allow-dir";
  return MakeError(ErrorCode::kForbidden,
                   std::string(what) + " needs the " + RoleNames(needed) + " role; this key ('" +
                       (p.name.empty() ? "?" : p.name) + "') has " + RoleNames(p.roles) +
                       ": its .pub belongs in the broker's " + dir);
}

bool WorkerBindings::Bind(const std::string& worker_id, const std::string& key, int64_t now_ms) {
  auto it = by_id_.find(worker_id);
  if (it != by_id_.end() && now_ms - it->second.last_ms > kTtlMs) {
    by_id_.erase(it);
    it = by_id_.end();
  }
  if (it != by_id_.end()) {
    if (it->second.key != key) return false;
    it->second.last_ms = now_ms;
    return true;
  }
  if (by_id_.size() >= kMaxBindings) Expire(now_ms);
  by_id_[worker_id] = Binding{key, now_ms};
  return true;
}

void WorkerBindings::Touch(const std::string& worker_id, int64_t now_ms) {
  if (auto it = by_id_.find(worker_id); it != by_id_.end()) it->second.last_ms = now_ms;
}

void WorkerBindings::Expire(int64_t now_ms) {
  std::erase_if(by_id_, [&](const auto& e) { return now_ms - e.second.last_ms > kTtlMs; });
  if (by_id_.size() < kMaxBindings) return;
  // Still full of recent ones: forget the least recently seen tenth.
  std::vector<std::pair<int64_t, std::string>> by_age;
  by_age.reserve(by_id_.size());
  for (const auto& [id, b] : by_id_) by_age.emplace_back(b.last_ms, id);
  size_t drop = by_age.size() / 10 + 1;
  std::nth_element(by_age.begin(), by_age.begin() + static_cast<long>(drop - 1), by_age.end());
  for (size_t i = 0; i < drop; ++i) by_id_.erase(by_age[i].second);
}

}  // namespace taskmill::broker
