#pragma once

// Who may do what (docs/security.md, "Roles"). With CURVE every connection is a public key
// (its ZAP user id), and each key has roles from the allow-list directories it is in:
// client (--curve-allow-dir), worker (--curve-worker-allow-dir), admin
// (--curve-admin-allow-dir); only there, unless --curve-roles=shared (the one-list setup of
// before roles: client keys are also workers and admins where no role directory is given).
// Without CURVE there are no keys: anyone who reaches the ports is trusted with every role,
// and nothing is owned.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "taskmill/shared/error.h"

namespace taskmill::broker {

class ZapHandler;

enum Role : uint8_t {
  kRoleClient = 1,  // submit, read and cancel its own tasks and batches, STATS
  kRoleWorker = 2,  // register (READY) and report results of the tasks it holds
  kRoleAdmin = 4,   // client verbs on everyone's tasks, DLQ list/retry/purge
};
using Roles = uint8_t;
// "client,admin", "none".
std::string RoleNames(Roles roles);

// One connection's credentials, resolved per message (a SIGHUP that removes a key from a
// role directory takes that role from its live connections too).
struct Principal {
  std::string key;   // Z85 public key; "" without CURVE
  std::string name;  // its .pub file's stem, for messages ("" without CURVE)
  Roles roles = 0;
  bool Has(Role r) const { return (roles & r) != 0; }
};

// The role checks of both services. Lives on the reactor thread with the ZapHandler it
// reads (nullptr: no CURVE); owns nothing.
class AccessPolicy {
 public:
  AccessPolicy() = default;
  // `shared_roles`: --curve-roles=shared.
  explicit AccessPolicy(const ZapHandler* zap, bool shared_roles = false)
      : zap_(zap), shared_roles_(shared_roles) {}

  bool curve() const { return zap_ != nullptr; }
  // True iff CURVE is on and client keys get the roles whose directory is missing.
  bool shared_roles() const { return zap_ != nullptr && shared_roles_; }
  Principal Identify(std::string_view user_id) const;
  // kForbidden naming the role `what` needs, or nothing when `p` has one of `any_of`.
  Result<void> Require(const Principal& p, Roles any_of, std::string_view what) const;
  // The owner a read or a cancel is limited to: "" (everything) for admins and without CURVE,
  // else the caller's key.
  static std::string OwnerFilter(const Principal& p) { return p.Has(kRoleAdmin) ? "" : p.key; }

 private:
  const ZapHandler* zap_ = nullptr;  // nullptr: no CURVE
  bool shared_roles_ = false;        // true iff --curve-roles=shared
};

// Which CURVE key each worker id belongs to: the first key to register a worker id keeps it
// while that worker is registered and for kTtlMs after it was last seen, so another key can
// neither take it from a live worker nor grab it while the worker reconnects. This is the
// broker's own view; Store::BindWorkers shares the bindings with every broker on the Redis.
// Thread: the reactor thread. Owner: the WorkerService.
class WorkerBindings {
 public:
  static constexpr int64_t kTtlMs = 10 * 60 * 1000;
  static constexpr size_t kMaxBindings = 100'000;

  // Binds `worker_id` to `key` (or refreshes it) and returns true, or returns false when it
  // is bound to another key.
  bool Bind(const std::string& worker_id, const std::string& key, int64_t now_ms);
  // Keeps a registered worker's binding alive.
  void Touch(const std::string& worker_id, int64_t now_ms);
  // Binds `worker_id` to `key` whatever it was bound to (another broker knew better).
  void Set(const std::string& worker_id, const std::string& key, int64_t now_ms) {
    by_id_[worker_id] = Binding{key, now_ms};
  }
  size_t size() const { return by_id_.size(); }

 private:
  struct Binding {
    std::string key;
    int64_t last_ms = 0;  // monotonic ms it was last bound or touched
  };
  void Expire(int64_t now_ms);
  std::unordered_map<std::string, Binding> by_id_;
};

}  // namespace taskmill::broker
