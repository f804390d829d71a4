#pragma once

// The broker's ZAP handler (ZeroMQ RFC 27): libzmq asks it, for every CURVE handshake on
// the broker's sockets, whether the client's public key may connect. The answer comes
// from the allow-lists: the *.pub files of --curve-allow-dir (clients) and, when given,
// --curve-worker-allow-dir and --curve-admin-allow-dir. A key in any of them may connect;
// what it may do once connected is the broker's role check (service/authz.h), which asks
// the lists here by the connection's ZAP user id: its public key in Z85.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <zmq.hpp>

#include "taskmill/shared/clock.h"
#include "taskmill/shared/error.h"

namespace taskmill::broker {

// Public keys allowed to connect: binary 32-byte key -> name (the .pub file's stem, which
// becomes the connection's ZAP user id). A value type; loading reads the whole directory
// or fails as a whole, naming the broken file.
class CurveAllowList {
 public:
  // Every *.pub file of `dir` (other files are ignored; a .pub that does not parse is an
  // error). An empty directory is allowed: every connection is then refused.
  static Result<CurveAllowList> Load(const std::string& dir);

  // The name of an allowed key, nullptr when it is not allowed.
  const std::string* Find(const std::string& binary_key) const;
  size_t size() const { return names_.size(); }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::map<std::string, std::string> names_;  // binary public key -> file stem
};

// What the handler has done, for logs and counters.
struct ZapCounters {
  uint64_t allowed = 0;    // handshakes answered 200
  uint64_t refused = 0;    // handshakes answered 400 (unknown key, wrong mechanism)
  uint64_t malformed = 0;  // requests that were not RFC 27 (answered 400 when possible)
};

// The ZAP endpoint: a REP socket bound at inproc://zeromq.zap.01 in the broker's context.
// It must be bound before the CURVE sockets bind, and its socket must be polled by the
// reactor (HandleRequests when readable); a handshake waits for its answer.
// Each refused key is logged once at warn (in Z85; public keys are not secret), at most
// kMaxRefusalLogsPerWindow lines per kRefusalLogWindowMs, the rest summed up later.
// Thread: the reactor thread. Owner: Broker::Run, alive while the sockets are.
class ZapHandler {
 public:
  static constexpr const char* kEndpoint = "inproc://zeromq.zap.01";
  static constexpr int kMaxRefusalLogsPerWindow = 10;
  static constexpr int64_t kRefusalLogWindowMs = 60'000;

  // `workers` and `admins`: the role lists, when their directories were given.
  ZapHandler(zmq::context_t& ctx, CurveAllowList allow, const Clock& clock,
             std::optional<CurveAllowList> workers = std::nullopt,
             std::optional<CurveAllowList> admins = std::nullopt);
  Result<void> Bind();

  void* handle() { return socket_.handle(); }
  // Answers every request waiting on the socket, without blocking.
  void HandleRequests();
  // Re-reads the allow-list directories (all of them, or none: on error the old lists stay
  // and are still used). Returns the number of keys in the client list.
  Result<size_t> Reload();
  void Close() { socket_.close(); }

  const ZapCounters& counters() const { return counters_; }
  const CurveAllowList& allow_list() const { return allow_; }
  // The role lists; nullptr when that directory was not given.
  const CurveAllowList* worker_list() const { return workers_ ? &*workers_ : nullptr; }
  const CurveAllowList* admin_list() const { return admins_ ? &*admins_ : nullptr; }

 private:
  // Answers one request; returns false when the socket had nothing to read.
  bool HandleOne();
  void LogRefusal(const std::string& key_z85, const std::string& address, const std::string& why);

  zmq::socket_t socket_;
  CurveAllowList allow_;                    // clients (--curve-allow-dir)
  std::optional<CurveAllowList> workers_;   // --curve-worker-allow-dir, when given
  std::optional<CurveAllowList> admins_;    // --curve-admin-allow-dir, when given
  const Clock& clock_;
  ZapCounters counters_;
  std::set<std::string> logged_keys_;  // refused keys already logged (since the last reload)
  int64_t log_window_start_ms_ = 0;    // start of the current rate-limit window
  int logs_in_window_ = 0;             // refusal lines written in that window
  uint64_t unlogged_refusals_ = 0;     // refusals not logged since the last line
};

}  // namespace taskmill::broker
