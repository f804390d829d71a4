#include "service/request_checks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>

#include "taskmill/shared/protocol/codec.h"

namespace taskmill::broker {
namespace {

// Caps on what one READY may announce: enough for any real worker, small enough that a
// hostile one cannot make every claim a huge script.
constexpr size_t kMaxWorkerQueues = 64;
constexpr size_t kMaxWorkerTypes = 512;
constexpr uint32_t kMaxWorkerConcurrency = 10000;
constexpr size_t kMaxWorkerLabels = 64;

std::unexpected<Error> Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

Result<void> CheckTaskCount(size_t n, std::string_view what, const BrokerOptions& o) {
  if (n > o.max_batch_tasks) {
    return Invalid(std::string(what) + ": " + std::to_string(n) + " tasks is over the limit of " +
                   std::to_string(o.max_batch_tasks) + " per request (--max-batch-tasks)");
  }
  return {};
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

template <class M>
std::string DigestOf(M& m) {
  uint64_t req_id = std::exchange(m.req_id, 0);
  std::string request_id = std::exchange(m.request_id, std::string());
  protocol::Message msg(std::move(m));
  std::string body = protocol::EncodeBody(msg);
  m = std::get<M>(std::move(msg));
  m.req_id = req_id;
  m.request_id = std::move(request_id);
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64
  auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 0x100000001b3ULL;
  };
  mix(static_cast<unsigned char>(M::kCommand));
  for (char c : body) mix(static_cast<unsigned char>(c));
  char hex[20];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

}  // namespace

std::string RequestDigest(protocol::Submit& submit) { return DigestOf(submit); }
std::string RequestDigest(protocol::Batch& batch) { return DigestOf(batch); }

protocol::SpecLimits TaskLimits(const BrokerOptions& o) {
  protocol::SpecLimits limits;
  limits.max_payload_bytes = o.max_payload_bytes;
  limits.max_label_bytes = o.max_label_bytes;
  return limits;
}

Result<void> CheckSubmit(const protocol::Submit& submit, const BrokerOptions& o) {
  if (submit.tasks.empty()) return Invalid("tasks: empty");
  if (auto r = CheckTaskCount(submit.tasks.size(), "tasks", o); !r) return r;
  const auto limits = TaskLimits(o);
  for (size_t i = 0; i < submit.tasks.size(); ++i) {
    const auto& spec = submit.tasks[i];
    std::string where = "tasks[" + std::to_string(i) + "]";
    if (auto r = protocol::ValidateTaskSpec(spec, where, limits); !r) return r;
    // Outside a batch, parents are task ids: they appear in keys, like every id.
    for (size_t j = 0; j < spec.depends_on.size(); ++j) {
      if (auto r = protocol::ValidateName(spec.depends_on[j],
                                          where + ".depends_on[" + std::to_string(j) + "]");
          !r) {
        return r;
      }
    }
  }
  return {};
}

Result<void> CheckBatch(protocol::BatchSpec& batch, const BrokerOptions& o) {
  if (!batch.id.empty()) {
    if (auto r = protocol::ValidateName(batch.id, "batch.id"); !r) return r;
  }
  if (auto r = protocol::ValidateOnFailure(batch.on_failure, "batch.on_failure"); !r) return r;
  if (auto r = protocol::ValidateBatchAppend(batch, "batch"); !r) return r;
  for (const auto& [name, limit] : batch.budget) {
    if (auto r = protocol::ValidateName(name, "batch.budget"); !r) return r;
    // NaN passes a `limit <= 0` test and would disable the budget.
    if (!std::isfinite(limit) || limit <= 0 || limit > protocol::kMaxCostValue) {
      return Invalid("batch.budget." + name + ": " + Num(limit) +
                     " is out of range (allowed: greater than 0, at most 1e15)");
    }
  }
  if (batch.budget.size() > protocol::kMaxCostNames) {
    return Invalid("batch.budget: " + std::to_string(batch.budget.size()) +
                   " cost names is over the limit of " + std::to_string(protocol::kMaxCostNames));
  }
  const auto limits = TaskLimits(o);
  // The batch's labels first: they are copied into every task.
  if (auto r = protocol::ValidateLabels(batch.labels, "batch.labels", limits.max_labels,
                                        limits.max_label_bytes);
      !r) {
    return r;
  }
  if (auto r = CheckTaskCount(batch.tasks.size(), "batch.tasks", o); !r) return r;
  uint64_t edges = 0;
  for (const auto& task : batch.tasks) edges += task.depends_on.size();
  if (edges > o.max_batch_edges) {
    return Invalid("batch.tasks: " + std::to_string(edges) +
                   " dependency edges is over the limit of " + std::to_string(o.max_batch_edges) +
                   " (--max-batch-edges)");
  }
  uint64_t stored = 0;
  for (size_t i = 0; i < batch.tasks.size(); ++i) {
    auto& task = batch.tasks[i];
    // A task's own label wins over the batch's.
    for (const auto& [k, v] : batch.labels) task.labels.emplace(k, v);
    if (auto r = protocol::ValidateTaskSpec(task, "batch.tasks[" + std::to_string(i) + "]",
                                            limits);
        !r) {
      return r;
    }
    stored += task.payload.size() + protocol::LabelBytes(task.labels);
  }
  if (batch.finally) {
    for (const auto& [k, v] : batch.labels) batch.finally->labels.emplace(k, v);
    if (auto r = protocol::ValidateFinally(*batch.finally, "batch.finally", limits); !r) return r;
    stored += protocol::LabelBytes(batch.finally->labels);
  }
  if (stored > o.max_frame_bytes) {
    return Invalid("batch: its tasks would store " + std::to_string(stored) +
                   " bytes of payload and labels (batch labels once per task), over the "
                   "limit of " +
                   std::to_string(o.max_frame_bytes) + " per request (--max-frame-bytes)");
  }
  return {};
}

Result<size_t> CheckReady(protocol::Ready& ready, const BrokerOptions& o,
                          size_t workers_registered, bool replaces_registered) {
  if (auto r = protocol::ValidateName(ready.worker_id, "worker_id"); !r) {
    return std::unexpected(r.error());
  }
  if (ready.queues.size() > kMaxWorkerQueues || ready.types.size() > kMaxWorkerTypes) {
    return Invalid("queues, types: " + std::to_string(ready.queues.size()) + " queues and " +
                   std::to_string(ready.types.size()) + " types is over the limit of " +
                   std::to_string(kMaxWorkerQueues) + " queues and " +
                   std::to_string(kMaxWorkerTypes) + " types");
  }
  size_t claim_keys = ready.queues.size() * std::max<size_t>(1, ready.types.size());
  if (claim_keys > o.max_worker_claim_keys) {
    return Invalid("queues x types: " + std::to_string(ready.queues.size()) + " x " +
                   std::to_string(ready.types.size()) + " = " + std::to_string(claim_keys) +
                   " is over the limit of " + std::to_string(o.max_worker_claim_keys) +
                   " (--max-worker-claim-keys)");
  }
  if (ready.concurrency > kMaxWorkerConcurrency) {
    return Invalid("concurrency: " + std::to_string(ready.concurrency) +
                   " is out of range (allowed: 0.." + std::to_string(kMaxWorkerConcurrency) + ")");
  }
  for (const auto& q : ready.queues) {
    if (auto r = protocol::ValidateName(q, "queues"); !r) return std::unexpected(r.error());
  }
  for (const auto& t : ready.types) {
    if (auto r = protocol::ValidateName(t, "types"); !r) return std::unexpected(r.error());
  }
  if (auto r =
          protocol::ValidateLabels(ready.labels, "labels", kMaxWorkerLabels, o.max_label_bytes);
      !r) {
    return std::unexpected(r.error());
  }
  if (!replaces_registered && workers_registered >= o.max_workers) {
    return Invalid("workers: " + std::to_string(workers_registered) +
                   " are registered, the limit (--max-workers)");
  }
  size_t dropped = 0;
  if (ready.running.size() > ready.concurrency) {
    dropped = ready.running.size() - ready.concurrency;
    ready.running.resize(ready.concurrency);
  }
  for (const auto& id : ready.running) {
    if (auto r = protocol::ValidateName(id, "running"); !r) return std::unexpected(r.error());
  }
  return dropped;
}

}  // namespace taskmill::broker
