#include "store/task_record.h"

#include <algorithm>
#include <cstdlib>

#include "store/msgpack_read.h"
#include "store/msgpack_writer.h"
#include "store/store_wire.h"
#include "taskmill/shared/protocol/validate.h"

#define TM_ASSIGN_OR_RETURN(lhs, expr)                     \
  auto lhs##_or = (expr);                                  \
  if (!lhs##_or) return std::unexpected(lhs##_or.error()); \
  auto lhs = std::move(*lhs##_or)

namespace taskmill::broker::record {
namespace {

int64_t ToInt(const std::map<std::string, std::string>& m, std::string_view key) {
  auto it = m.find(std::string(key));
  return it == m.end() ? 0 : std::strtoll(it->second.c_str(), nullptr, 10);
}

std::string Field(const std::map<std::string, std::string>& m, std::string_view key) {
  auto it = m.find(std::string(key));
  return it == m.end() ? std::string() : it->second;
}

}  // namespace

std::string EncodeSpec(const protocol::TaskSpec& s, std::string_view batch_id,
                       std::string_view owner, int64_t created_ms) {
  MsgpackWriter w;
  w.out().reserve(96 + s.name.size() + s.queue.size() + s.type.size());
  w.Str(s.queue);
  w.Str(s.type);
  w.Str(batch_id);
  w.Str(s.name);
  w.Uint(s.priority);
  w.Uint(s.max_attempts);
  w.Uint(s.timeout_ms);
  w.Array(4);
  w.Uint(s.backoff.base_ms);
  w.Uint(s.backoff.max_ms);
  w.Double(s.backoff.multiplier);
  w.Bool(s.backoff.jitter);
  w.Int(NotBeforeMs(s, created_ms));
  w.Int(created_ms);
  w.Str(owner);
  w.Str(s.idempotency_key);
  w.Array(static_cast<uint32_t>(s.depends_on.size()));
  for (const auto& d : s.depends_on) w.Str(d);
  w.Map(static_cast<uint32_t>(s.labels.size()));
  for (const auto& [k, v] : s.labels) {
    w.Str(k);
    w.Str(v);
  }
  return w.Take();
}

Result<Spec> DecodeSpec(std::string_view bytes) {
  mp::Stream in(bytes);
  Spec s;
  auto str = [&](std::string& out, std::string_view what) -> Result<void> {
    TM_ASSIGN_OR_RETURN(o, in.Next(what));
    TM_ASSIGN_OR_RETURN(v, mp::Str(o, what));
    out = v;
    return {};
  };
  auto num = [&](std::string_view what) -> Result<int64_t> {
    TM_ASSIGN_OR_RETURN(o, in.Next(what));
    return mp::Int(o, what);
  };
  if (auto r = str(s.queue, "spec queue"); !r) return std::unexpected(r.error());
  if (auto r = str(s.type, "spec type"); !r) return std::unexpected(r.error());
  if (auto r = str(s.batch_id, "spec batch"); !r) return std::unexpected(r.error());
  if (auto r = str(s.name, "spec name"); !r) return std::unexpected(r.error());
  TM_ASSIGN_OR_RETURN(prio, num("spec priority"));
  TM_ASSIGN_OR_RETURN(max_att, num("spec max_attempts"));
  TM_ASSIGN_OR_RETURN(timeout, num("spec timeout"));
  s.priority = static_cast<uint8_t>(prio);
  s.max_attempts = static_cast<uint32_t>(max_att);
  s.timeout_ms = static_cast<uint32_t>(timeout);
  TM_ASSIGN_OR_RETURN(bo_obj, in.Next("spec backoff"));
  TM_ASSIGN_OR_RETURN(bo, mp::Array(bo_obj, "spec backoff"));
  if (bo.size() == 4) {
    TM_ASSIGN_OR_RETURN(base, mp::Int(bo[0], "backoff base"));
    TM_ASSIGN_OR_RETURN(max, mp::Int(bo[1], "backoff max"));
    TM_ASSIGN_OR_RETURN(mult, mp::Double(bo[2], "backoff multiplier"));
    TM_ASSIGN_OR_RETURN(jitter, mp::Bool(bo[3], "backoff jitter"));
    s.backoff = BackoffPolicy{static_cast<uint32_t>(base), static_cast<uint32_t>(max), mult,
                              jitter};
  }
  TM_ASSIGN_OR_RETURN(nbf, num("spec not_before"));
  TM_ASSIGN_OR_RETURN(created, num("spec created"));
  s.not_before_ms = nbf;
  s.created_ms = created;
  if (auto r = str(s.owner, "spec owner"); !r) return std::unexpected(r.error());
  if (auto r = str(s.idempotency_key, "spec idempotency key"); !r) {
    return std::unexpected(r.error());
  }
  TM_ASSIGN_OR_RETURN(parents_obj, in.Next("spec parents"));
  TM_ASSIGN_OR_RETURN(parents, mp::Strings(parents_obj, "spec parents"));
  s.parents = std::move(parents);
  TM_ASSIGN_OR_RETURN(labels_obj, in.Next("spec labels"));
  TM_ASSIGN_OR_RETURN(labels, mp::StrMap(labels_obj, "spec labels"));
  s.labels = std::move(labels);
  return s;
}

std::string EncodeResult(const protocol::Done& d) {
  MsgpackWriter w;
  w.out().reserve(16 + d.output.size() + d.stdout_data.size() + d.stderr_data.size());
  w.Uint(d.duration_ms);
  if (d.exit_code) {
    w.Int(*d.exit_code);
  } else {
    w.Nil();
  }
  w.Str(d.output);
  w.Str(d.stdout_data);
  w.Str(d.stderr_data);
  // Artifacts, only when there are any (older records end here): an array of
  // [name, size, sha256, uri, data] per file.
  if (!d.artifacts.empty()) {
    w.Array(static_cast<uint32_t>(d.artifacts.size()));
    for (const auto& a : d.artifacts) {
      w.Array(5);
      w.Str(a.name);
      w.Uint(a.size);
      w.Str(a.sha256);
      w.Str(a.uri);
      w.Str(a.data);
    }
  }
  return w.Take();
}

Result<void> DecodeResult(std::string_view bytes, protocol::TaskInfo& t) {
  mp::Stream in(bytes);
  TM_ASSIGN_OR_RETURN(dur, in.Next("result duration"));
  TM_ASSIGN_OR_RETURN(dur_ms, mp::Int(dur, "result duration"));
  t.duration_ms = static_cast<uint32_t>(dur_ms);
  TM_ASSIGN_OR_RETURN(exit, in.Next("result exit code"));
  if (!mp::IsNil(exit)) {
    TM_ASSIGN_OR_RETURN(code, mp::Int(exit, "result exit code"));
    t.exit_code = static_cast<int32_t>(code);
  }
  std::string* outs[] = {&t.output, &t.stdout_data, &t.stderr_data};
  for (std::string* out : outs) {
    TM_ASSIGN_OR_RETURN(o, in.Next("result output"));
    TM_ASSIGN_OR_RETURN(v, mp::Str(o, "result output"));
    *out = v;
  }
  if (in.AtEnd()) return {};
  TM_ASSIGN_OR_RETURN(list, in.Next("result artifacts"));
  TM_ASSIGN_OR_RETURN(items, mp::Array(list, "result artifacts"));
  for (const msgpack::object& item : items) {
    TM_ASSIGN_OR_RETURN(fields, mp::Array(item, "result artifact"));
    if (fields.size() != 5) return mp::Bad("result artifact", "is not 5 fields");
    protocol::Artifact a;
    TM_ASSIGN_OR_RETURN(name, mp::Str(fields[0], "artifact name"));
    TM_ASSIGN_OR_RETURN(size, mp::Int(fields[1], "artifact size"));
    TM_ASSIGN_OR_RETURN(sha, mp::Str(fields[2], "artifact sha256"));
    TM_ASSIGN_OR_RETURN(uri, mp::Str(fields[3], "artifact uri"));
    TM_ASSIGN_OR_RETURN(data, mp::Str(fields[4], "artifact data"));
    a.name = name;
    a.size = static_cast<uint64_t>(size);
    a.sha256 = sha;
    a.uri = uri;
    a.data = data;
    t.artifacts.push_back(std::move(a));
  }
  return {};
}

Result<protocol::TaskInfo> TaskFromFields(const std::map<std::string, std::string>& m,
                                          const std::vector<std::string>& hist) {
  protocol::TaskInfo t;
  auto spec_it = m.find(std::string(kSpec));
  if (spec_it == m.end()) return mp::Bad("task", "has no spec");
  TM_ASSIGN_OR_RETURN(spec, DecodeSpec(spec_it->second));
  t.queue = std::move(spec.queue);
  t.type = std::move(spec.type);
  t.batch_id = std::move(spec.batch_id);
  t.name = std::move(spec.name);
  t.priority = spec.priority;
  t.max_attempts = spec.max_attempts;
  t.created_ms = spec.created_ms;
  t.state = wire::StateFromName(Field(m, kState));
  t.attempts = static_cast<uint32_t>(ToInt(m, kAttempts));
  if (auto it = m.find(std::string(kResult)); it != m.end()) {
    if (auto r = DecodeResult(it->second, t); !r) return std::unexpected(r.error());
  }
  if (auto it = m.find(std::string(kErrCode)); it != m.end()) {
    t.error = protocol::TaskError{it->second, Field(m, kErrMsg), Field(m, kErrRetry) == "1"};
  }
  if (t.state == protocol::TaskState::kCancelled) {
    t.error = protocol::TaskError{"cancelled", Field(m, kReason), false};
  }
  for (const auto& [k, v] : m) {
    if (k.starts_with(kCostPrefix)) t.cost[k.substr(2)] = std::strtod(v.c_str(), nullptr);
  }
  t.worker = Field(m, kWorker);
  // Progress belongs to one attempt: a retry shows none until it reports its own.
  if (m.contains(std::string(kProgress)) && ToInt(m, kProgressAttempt) == t.attempts) {
    double fraction = std::strtod(Field(m, kProgress).c_str(), nullptr);
    t.progress = protocol::ClampProgressFraction(fraction).value_or(0);
    t.progress_message = Field(m, kProgressMessage);
  }
  t.started_ms = ToInt(m, kStarted);
  t.finished_ms = ToInt(m, kFinished);
  if (t.state == protocol::TaskState::kDelayed) t.ready_at_ms = ToInt(m, kReadyAt);
  // A priority changed while the task waited (UPDATE, update.lua) overrides the spec's.
  if (m.contains(std::string(kPriority))) {
    t.priority = static_cast<uint8_t>(std::clamp<int64_t>(ToInt(m, kPriority), 0, 255));
  }
  if (hist.size() % 3 != 0) {
    return MakeError(ErrorCode::kInternal, "unexpected store reply: history not in triples");
  }
  for (size_t i = 0; i < hist.size(); i += 3) {
    t.history.push_back(protocol::TaskError{hist[i], hist[i + 1], hist[i + 2] == "1"});
  }
  return t;
}

}  // namespace taskmill::broker::record
