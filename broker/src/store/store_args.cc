#include <algorithm>
#include <charconv>

#include "store/msgpack_writer.h"
#include "store/store_wire.h"
#include "store/task_record.h"
#include "taskmill/shared/protocol/validate.h"
#include "taskmill/shared/sha256.h"

namespace taskmill::broker::wire {

std::string Num(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : std::string("0");
}

std::string LayoutKey(const StoreOptions& options) { return options.prefix + "layout"; }

std::string Header(const StoreOptions& options, int64_t now_ms, double jitter) {
  MsgpackWriter w;
  w.Map(7);
  w.Str("now");
  w.Int(now_ms);
  w.Str("retention");
  w.Int(options.retention_ms);
  w.Str("dead_max");
  w.Uint(options.dead_letter_max);
  w.Str("finished_max");
  w.Uint(options.max_finished_per_queue);
  w.Str("jitter");
  w.Double(jitter);
  w.Str("idem_ttl");
  w.Int(options.idempotency_ttl_ms);
  w.Str("grace");
  w.Int(options.lease_grace_ms);
  return w.Take();
}

namespace {

void Strs(MsgpackWriter& w, const std::vector<std::string>& v) {
  w.Array(static_cast<uint32_t>(v.size()));
  for (const auto& s : v) w.Str(s);
}

// A 64-bit fencing token as a decimal string (Lua numbers are doubles and would round it),
// formatted on the stack: a 19-20 digit std::string would be a heap allocation per token.
void Decimal(MsgpackWriter& w, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  w.Str(std::string_view(buf, ec == std::errc() ? end : buf));
}

// A cost map (name -> decimal string: exact through Lua, see Num).
void Costs(MsgpackWriter& w, const protocol::CostMap& costs) {
  w.Map(static_cast<uint32_t>(costs.size()));
  for (const auto& [k, v] : costs) {
    w.Str(k);
    w.Str(Num(v));
  }
}

}  // namespace

std::string LimitArgs(uint32_t limit) {
  MsgpackWriter w;
  w.Map(1);
  w.Str("limit");
  w.Uint(limit);
  return w.Take();
}

std::string WorkerArgs(const std::string& worker_id, const std::vector<std::string>& keep) {
  MsgpackWriter w;
  w.Map(keep.empty() ? 1 : 2);
  w.Str("worker");
  w.Str(worker_id);
  if (!keep.empty()) {
    w.Str("keep");
    w.Array(static_cast<uint32_t>(keep.size()));
    for (const auto& id : keep) w.Str(id);
  }
  return w.Take();
}

std::string ExtendArgs(const std::string& worker_id, uint32_t lease_ms) {
  MsgpackWriter w;
  w.Map(2);
  w.Str("worker");
  w.Str(worker_id);
  w.Str("lease");
  w.Uint(lease_ms);
  return w.Take();
}

std::string ProgressArgs(const std::vector<ProgressWrite>& writes) {
  MsgpackWriter w;
  w.Map(1);
  w.Str("items");
  w.Array(static_cast<uint32_t>(writes.size()));
  for (const auto& p : writes) {
    w.Map(5);
    w.Str("id");
    w.Str(p.task_id);
    w.Str("worker");
    w.Str(p.worker_id);
    w.Str("tok");
    Decimal(w, p.token);
    w.Str("frac");
    w.Str(Num(p.fraction));  // a string: stored as is, never reformatted by Lua
    w.Str("msg");
    w.Str(p.message);
  }
  return w.Take();
}

std::string CancelArgs(const std::string& reason, const std::string& owner,
                       const std::vector<std::string>& ids, const std::string& batch) {
  MsgpackWriter w;
  w.Map(batch.empty() ? 3 : 4);
  if (!batch.empty()) {
    w.Str("batch");
    w.Str(batch);
  }
  w.Str("reason");
  w.Str(reason);
  w.Str("owner");
  w.Str(owner);
  w.Str("ids");
  Strs(w, ids);
  return w.Take();
}

std::string GetArgs(const std::string& owner, const std::vector<std::string>& ids) {
  MsgpackWriter w;
  w.Map(2);
  w.Str("owner");
  w.Str(owner);
  w.Str("ids");
  Strs(w, ids);
  return w.Take();
}

std::string GetBatchArgs(const std::string& batch_id, const std::string& owner,
                         const std::string& cursor, uint32_t per_page) {
  MsgpackWriter w;
  w.Map(4);
  w.Str("batch");
  w.Str(batch_id);
  w.Str("owner");
  w.Str(owner);
  w.Str("cursor");
  w.Str(cursor);
  w.Str("per_page");
  w.Uint(per_page);
  return w.Take();
}

std::string StatsArgs(const std::vector<std::string>& queues, const std::string& after,
                      uint32_t limit) {
  MsgpackWriter w;
  w.Map(3);
  w.Str("queues");
  Strs(w, queues);
  w.Str("after");
  w.Str(after);
  w.Str("limit");
  w.Uint(limit);
  return w.Take();
}

std::string DeadListArgs(const std::string& queue, uint32_t limit) {
  MsgpackWriter w;
  w.Map(2);
  w.Str("queue");
  w.Str(queue);
  w.Str("limit");
  w.Uint(limit);
  return w.Take();
}

std::string DeadArgs(const std::string& queue, uint32_t limit,
                     const std::vector<std::string>& ids) {
  MsgpackWriter w;
  w.Map(3);
  w.Str("queue");
  w.Str(queue);
  w.Str("limit");
  w.Uint(limit);
  w.Str("ids");
  Strs(w, ids);
  return w.Take();
}

std::string SetLimitArgs(const std::string& queue, bool clear, const QueueLimits& limits) {
  MsgpackWriter w;
  w.Map(3);
  w.Str("queue");
  w.Str(queue);
  w.Str("clear");
  w.Bool(clear);
  w.Str("cfg");
  // Only the fields set (lib/limits.lua reads absent as 0 / "").
  std::vector<std::pair<const char*, std::string>> f;
  if (limits.rate_n > 0) {
    f.emplace_back("rate_n", std::to_string(limits.rate_n));
    f.emplace_back("rate_ms", std::to_string(limits.rate_ms));
  }
  if (limits.concurrency > 0) f.emplace_back("conc", std::to_string(limits.concurrency));
  if (limits.cost_ms > 0) {
    f.emplace_back("cost_name", limits.cost_name);
    f.emplace_back("cost_amt", Num(limits.cost_amount));
    f.emplace_back("cost_ms", std::to_string(limits.cost_ms));
  }
  if (!limits.key_label.empty()) f.emplace_back("key", limits.key_label);
  if (limits.aging_ms > 0) f.emplace_back("aging_ms", std::to_string(limits.aging_ms));
  if (limits.round_robin) f.emplace_back("rr", "1");
  f.emplace_back("text", limits.Text());
  w.Map(static_cast<uint32_t>(f.size()));
  for (const auto& [k, v] : f) {
    w.Str(k);
    w.Str(v);
  }
  return w.Take();
}

std::string BindWorkersArgs(int64_t ttl_ms,
                            const std::vector<std::pair<std::string, std::string>>& bindings) {
  MsgpackWriter w;
  w.Map(2);
  w.Str("ttl");
  w.Int(ttl_ms);
  w.Str("pairs");
  w.Array(static_cast<uint32_t>(bindings.size()));
  for (const auto& [worker_id, key] : bindings) {
    w.Map(2);
    w.Str("worker");
    w.Str(worker_id);
    w.Str("key");
    w.Str(key);
  }
  return w.Take();
}

std::string LayoutProbeArgs(int64_t want, const std::string& token, int64_t ttl_ms) {
  MsgpackWriter w;
  w.Map(3);
  w.Str("want");
  w.Int(want);
  w.Str("token");
  w.Str(token);
  w.Str("ttl");
  w.Int(ttl_ms);
  return w.Take();
}

std::string LayoutStepArgs(const std::string& token, int64_t ttl_ms, uint32_t budget) {
  MsgpackWriter w;
  w.Map(3);
  w.Str("token");
  w.Str(token);
  w.Str("ttl");
  w.Int(ttl_ms);
  w.Str("budget");
  w.Uint(budget);
  return w.Take();
}

std::string EnqueueArgs(uint64_t max_depth, const std::string& batch_id,
                        const BatchSettings& batch,
                        const std::vector<protocol::TaskSpec>& specs,
                        const std::vector<std::string>& owners,
                        const std::vector<RequestKey>& requests, int64_t now_ms,
                        const TickClaim* tick) {
  static const std::string kNoOwner;
  size_t tagged = 0;  // requests with an id, each within the specs
  for (const auto& r : requests) {
    if (!r.id.empty() && r.count > 0 && r.first + r.count <= specs.size()) ++tagged;
  }
  MsgpackWriter w;
  bool policy = batch.on_failure != protocol::kOnFailureCancelDependents;
  bool fin = batch.finally.has_value() && !batch_id.empty();
  bool app = batch.append && !batch_id.empty();
  w.Map((tagged > 0 ? 5 : 4) + (tick != nullptr ? 1 : 0) + (policy ? 1 : 0) + (fin ? 1 : 0) +
        (app ? 1 : 0));
  if (app) {
    w.Str("app");
    w.Uint(std::max<uint32_t>(batch.append_max, 1));
  }
  if (policy) {
    w.Str("onf");
    w.Str(batch.on_failure);
  }
  if (fin) {
    // The finally task: stored when the batch ends, owned as the batch's first task, no
    // member (its record's batch is ""), its creation time the batch's.
    const protocol::TaskSpec& f = *batch.finally;
    w.Str("fin");
    w.Map(5);
    w.Str("id");
    w.Str(f.id);
    w.Str("spec");
    w.Str(record::EncodeSpec(f, "", owners.empty() ? kNoOwner : owners[0], now_ms));
    w.Str("queue");
    w.Str(f.queue);
    w.Str("type");
    w.Str(f.type);
    w.Str("prio");
    w.Uint(f.priority);
  }
  if (tick != nullptr) {
    // Decimal strings: compared with the hash's next_run as written.
    w.Str("tick");
    w.Map(6);
    w.Str("name");
    w.Str(tick->name);
    w.Str("expect");
    w.Str(std::to_string(tick->expect_ms));
    w.Str("next");
    w.Str(std::to_string(tick->next_ms));
    w.Str("at");
    w.Str(std::to_string(tick->at_ms));
    w.Str("fire");
    w.Uint(tick->fire ? 1 : 0);
    w.Str("missed");
    w.Uint(tick->missed);
  }
  if (tagged > 0) {
    // {rid, owner (its first spec's), digest, first (1-based), count}, in spec order.
    w.Str("reqs");
    w.Array(static_cast<uint32_t>(tagged));
    for (const auto& r : requests) {
      if (r.id.empty() || r.count == 0 || r.first + r.count > specs.size()) continue;
      w.Map(5);
      w.Str("rid");
      w.Str(r.id);
      w.Str("owner");
      w.Str(r.first < owners.size() ? owners[r.first] : kNoOwner);
      w.Str("digest");
      w.Str(r.digest);
      w.Str("first");
      w.Uint(r.first + 1);
      w.Str("count");
      w.Uint(r.count);
    }
  }
  w.Str("max_depth");
  w.Uint(max_depth);
  w.Str("batch");
  w.Str(batch_id);
  w.Str("budget");
  Costs(w, batch.budget);
  w.Str("items");
  w.Array(static_cast<uint32_t>(specs.size()));
  for (size_t i = 0; i < specs.size(); ++i) {
    const protocol::TaskSpec& s = specs[i];
    const std::string& owner = i < owners.size() ? owners[i] : kNoOwner;
    // exp and ittl only when set: most tasks have neither, and the script reads nil as 0.
    const bool exp = s.expires_in_ms > 0, ittl = s.idempotency_ttl_ms > 0;
    w.Map(11 + (exp ? 1 : 0) + (ittl ? 1 : 0));
    if (exp) {
      // The deadline on the broker's clock, like a delay's not_before (record::EncodeSpec).
      w.Str("exp");
      w.Int(now_ms + static_cast<int64_t>(s.expires_in_ms));
    }
    if (ittl) {
      w.Str("ittl");
      w.Int(static_cast<int64_t>(s.idempotency_ttl_ms));
    }
    w.Str("id");
    w.Str(s.id);
    w.Str("spec");
    w.Str(record::EncodeSpec(s, batch_id, owner, now_ms));
    w.Str("payload");
    w.Str(s.payload);
    w.Str("queue");
    w.Str(s.queue);
    w.Str("type");
    w.Str(s.type);
    w.Str("name");
    w.Str(s.name);
    w.Str("prio");
    w.Uint(s.priority);
    w.Str("nbf");
    w.Int(record::NotBeforeMs(s, now_ms));
    w.Str("idem");
    w.Str(s.idempotency_key);
    w.Str("owner");
    w.Str(owner);
    w.Str("deps");
    Strs(w, s.depends_on);
  }
  return w.Take();
}

std::string ClaimArgs(const std::vector<ClaimRequest>& requests,
                      const std::vector<uint64_t>& tokens) {
  MsgpackWriter w;
  w.Map(1);
  w.Str("claims");
  w.Array(static_cast<uint32_t>(requests.size()));
  size_t next = 0;  // the first token of this request
  for (const auto& req : requests) {
    w.Map(6);
    w.Str("worker");
    w.Str(req.worker_id);
    w.Str("lease");
    w.Uint(req.lease_ms);
    w.Str("n");
    w.Uint(req.n);
    w.Str("queues");
    Strs(w, req.queues);
    w.Str("types");
    Strs(w, req.types);
    w.Str("tokens");
    size_t n = std::min<size_t>(req.n, tokens.size() - std::min(next, tokens.size()));
    w.Array(static_cast<uint32_t>(n));
    for (size_t i = 0; i < n; ++i) Decimal(w, tokens[next + i]);
    next += n;
  }
  return w.Take();
}

namespace {

void DoneItem(MsgpackWriter& w, const protocol::Done& d) {
  // A success without an error leaves out code, msg and retry, and an item without costs
  // leaves out costs (finish.lua reads them as "", "", false and none): less for Lua to
  // unpack per DONE on the hot path.
  bool clean = d.ok && !d.error;
  // Only the SHA-256 of a completion token reaches Redis (docs/security.md): an awaiting DONE
  // stores it (aw), a COMPLETE (completion_token without awaiting) presents it (ctok).
  bool token = !d.completion_token.empty();
  bool poll = !token && d.ok && d.poll_ms > 0;
  w.Map((clean ? 4 : 7) + (d.cost.empty() ? 0 : 1) + (token ? 1 : 0) + (poll ? 1 : 0));
  w.Str("id");
  w.Str(d.task_id);
  w.Str("tok");
  Decimal(w, d.token);
  w.Str("ok");
  w.Bool(d.ok);
  w.Str("res");
  w.Str(record::EncodeResult(d));
  if (d.error) {
    w.Str("code");
    w.Str(d.error->code.empty() ? "error" : d.error->code);
    w.Str("msg");
    w.Str(d.error->message);
    w.Str("retry");
    w.Bool(d.error->retryable);
  } else if (!d.ok) {
    w.Str("code");
    w.Str("error");
    w.Str("msg");
    w.Str("the worker reported a failure without an error");
    w.Str("retry");
    w.Bool(false);
  }
  if (!d.cost.empty()) {
    w.Str("costs");
    Costs(w, d.cost);
  }
  if (token && d.awaiting) {
    w.Str("aw");
    w.Map(2);
    w.Str("h");
    w.Str(Sha256::Hex(d.completion_token));
    w.Str("ms");
    w.Uint(d.await_ms);
  } else if (token) {
    w.Str("ctok");
    w.Str(Sha256::Hex(d.completion_token));
  }
  if (poll) {
    w.Str("poll");
    w.Map(3);
    w.Str("ms");
    w.Uint(d.poll_ms);
    w.Str("st");
    w.Str(d.poll_state);
    w.Str("max");
    w.Uint(d.poll_max_ms == 0 ? protocol::kDefaultPollMaxMs : d.poll_max_ms);
  }
}

}  // namespace

std::string FinishArgs(const std::vector<DoneGroup>& groups,
                       const std::vector<protocol::Done>& done) {
  MsgpackWriter w;
  w.Map(1);
  w.Str("groups");
  w.Array(static_cast<uint32_t>(groups.size()));
  size_t next = 0;  // the group's first DONE
  for (const auto& g : groups) {
    size_t n = std::min(g.count, done.size() - std::min(next, done.size()));
    w.Map(2);
    w.Str("worker");
    w.Str(g.worker_id);
    w.Str("items");
    w.Array(static_cast<uint32_t>(n));
    for (size_t i = 0; i < n; ++i) DoneItem(w, done[next + i]);
    next += n;
  }
  return w.Take();
}

std::string ListArgs(const protocol::List& req, const std::string& owner, uint32_t scan) {
  MsgpackWriter w;
  w.Map(8);
  w.Str("what");
  w.Str(req.what);
  w.Str("queue");
  w.Str(req.queue);
  w.Str("state");
  w.Str(req.state);
  w.Str("type");
  w.Str(req.type);
  w.Str("owner");
  w.Str(owner);
  w.Str("limit");
  w.Uint(req.limit);
  w.Str("scan");
  w.Uint(scan);
  w.Str("cursor");
  w.Str(req.cursor);
  return w.Take();
}

std::string UpdateArgs(const protocol::Update& req, const std::string& owner) {
  MsgpackWriter w;
  w.Map(4);
  w.Str("id");
  w.Str(req.id);
  w.Str("op");
  w.Str(req.op);
  w.Str("priority");
  w.Uint(req.priority);
  w.Str("owner");
  w.Str(owner);
  return w.Take();
}

}  // namespace taskmill::broker::wire
