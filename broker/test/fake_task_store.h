#pragma once

// An in-memory TaskStore for unit tests of the lifecycle layer: tasks in maps, no Redis.
// Like Store, it answers later, never inside the call: replies wait in a list until the test
// calls Answer() (a reactor turn's replies arriving). It counts calls per verb, so a test
// sees how the layer batches them. The rules are a small model of the Lua scripts': FIFO
// ready queues, fencing tokens, retries while attempts remain (at once: no backoff), dead
// letters, one batch per task with succeeded/failed counts.

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "store/task_store.h"

namespace taskmill::broker::testing {

class FakeTaskStore : public TaskStore {
 public:
  struct Calls {
    int enqueue = 0, enqueue_batch = 0, claim = 0, finish = 0, release = 0, reap = 0,
        promote = 0, extend = 0, cancel = 0, get = 0, dead_retry = 0;
    int claim_requests = 0;  // ClaimRequests over every claim call
  };
  struct Task {
    protocol::TaskSpec spec;
    protocol::TaskState state = protocol::TaskState::kQueued;
    uint32_t attempt = 0;
    uint64_t token = 0;  // the live attempt's (running)
    std::string worker;
    protocol::Bytes output;
    std::optional<protocol::TaskError> error;
  };

  // Runs the replies of every call made so far (and of calls those replies make), in order.
  void Answer() {
    while (!replies_.empty()) {
      auto reply = std::move(replies_.front());
      replies_.pop_front();
      reply();
    }
  }
  size_t unanswered() const { return replies_.size(); }
  const Calls& calls() const { return calls_; }
  // Every call's verb, in the order made ("enqueue", "finish", "release", "claim", ...).
  const std::vector<std::string>& order() const { return order_; }
  const Task* Find(const std::string& id) const {
    auto it = tasks_.find(id);
    return it == tasks_.end() ? nullptr : &it->second;
  }
  // (worker, task id) of every DONE a finish call carried, in order.
  const std::vector<std::pair<std::string, std::string>>& finished_by() const {
    return finished_by_;
  }
  void set_ready(bool ready) { ready_ = ready; }
  // The next Finish calls fail whole with `code` (nothing recorded), `times` of them.
  void FailFinish(ErrorCode code, int times) {
    finish_error_ = code;
    finish_failures_ = times;
  }
  // Cancel requests Extend reports for a worker (as if made through another broker).
  void RequestCancel(std::string task_id, uint64_t token, std::string reason) {
    extend_cancels_.push_back({std::move(task_id), token, std::move(reason)});
  }
  // The next Reap answers with these outcomes (a death recorded by the reaper, say).
  void ReapOutcomes(std::vector<FinishOutcome> items) { reap_items_ = std::move(items); }

  // Request ids as enqueue.lua keeps them (per owner, digest checked), in a map.
  void Enqueue(const std::vector<protocol::TaskSpec>& specs, Callback<EnqueueResult> cb,
               const std::vector<std::string>& owners = {},
               const std::vector<RequestKey>& requests = {}) override {
    ++calls_.enqueue;
    order_.push_back("enqueue");
    EnqueueResult result;
    for (const auto& spec : specs) result.items.push_back(Add(spec));
    for (const auto& req : requests) {
      std::string key = (req.first < owners.size() ? owners[req.first] : "") + "|" + req.id;
      auto [it, fresh] = request_ids_.try_emplace(key);
      if (fresh) {
        it->second.digest = req.digest;
        for (size_t i = req.first; i < req.first + req.count; ++i) {
          it->second.ids.push_back(result.items[i].id);
        }
        continue;
      }
      for (size_t k = 0; k < req.count; ++k) {
        auto& item = result.items[req.first + k];
        if (!item.error) {  // the fake stored it above: take it back
          std::erase(ready_queues_[tasks_.at(item.id).spec.queue], item.id);
          tasks_.erase(item.id);
        }
        EnqueueOutcome o;
        if (it->second.digest != req.digest || k >= it->second.ids.size()) {
          o.id = item.id;
          o.error = Error{ErrorCode::kConflict, "fake: request_id reused"};
        } else {
          o.id = it->second.ids[k];
          o.duplicate = o.replayed = true;
          o.state = tasks_.at(o.id).state;
        }
        item = std::move(o);
      }
    }
    Later(std::move(cb), std::move(result));
  }
  void EnqueueBatch(std::string batch_id, BatchSettings budget,
                    std::vector<protocol::TaskSpec> specs, Callback<EnqueueResult> cb,
                    std::string owner = "", RequestKey request = {}) override {
    (void)budget;
    ++calls_.enqueue_batch;
    order_.push_back("enqueue_batch");
    EnqueueResult result;
    if (!request.id.empty()) {
      auto [it, fresh] = request_ids_.try_emplace(owner + "|" + request.id);
      if (!fresh) {
        result.replayed_batch = it->second.ids.front();
        Later(std::move(cb), std::move(result));
        return;
      }
      it->second = {request.digest, {batch_id}};
    }
    for (auto& spec : specs) {
      spec.batch_id = batch_id;
      result.items.push_back(Add(spec));
    }
    result.batches.push_back(BatchOf(batch_id));
    Later(std::move(cb), std::move(result));
  }
  // One call claims for every request in turn (each as if alone), like claim.lua.
  void ClaimMany(std::vector<ClaimRequest> requests, Callback<ClaimsResult> cb) override {
    ++calls_.claim;
    calls_.claim_requests += static_cast<int>(requests.size());
    order_.push_back("claim");
    ClaimsResult result;
    for (const auto& request : requests) result.claims.emplace_back(ClaimOne(request));
    Later(std::move(cb), std::move(result));
  }
  // The DONEs of several workers in one call, each fenced against its group's worker.
  void FinishMany(const std::vector<DoneGroup>& groups, const std::vector<protocol::Done>& done,
                  Callback<FinishResult> cb) override {
    ++calls_.finish;
    order_.push_back("finish");
    if (finish_failures_ > 0) {
      --finish_failures_;
      Later(std::move(cb), Result<FinishResult>(MakeError(finish_error_, "fake: refused")));
      return;
    }
    FinishResult result;
    size_t next = 0;
    for (const auto& g : groups) {
      for (size_t i = 0; i < g.count && next < done.size(); ++i, ++next) {
        const auto& d = done[next];
        finished_by_.emplace_back(g.worker_id, d.task_id);
        result.items.push_back(End(d.task_id, d.token, g.worker_id, d.ok, d.output, d.error));
        AddBatchChange(result.batches, d.task_id);
      }
    }
    Later(std::move(cb), std::move(result));
  }
  void Promote(uint32_t, Callback<PromoteResult> cb) override {
    ++calls_.promote;
    order_.push_back("promote");
    Later(std::move(cb), PromoteResult{});
  }
  void Reap(uint32_t, Callback<FinishResult> cb) override {
    ++calls_.reap;
    order_.push_back("reap");
    FinishResult result;
    result.items = std::move(reap_items_);
    reap_items_.clear();
    Later(std::move(cb), std::move(result));
  }
  void Extend(std::string, uint32_t, Callback<ExtendResult> cb) override {
    ++calls_.extend;
    order_.push_back("extend");
    ExtendResult result;
    result.cancel_requested = std::move(extend_cancels_);
    extend_cancels_.clear();
    Later(std::move(cb), std::move(result));
  }
  void ReleaseWorker(std::string worker_id, Callback<FinishResult> cb,
                     std::vector<std::string> keep = {}) override {
    ++calls_.release;
    order_.push_back("release");
    FinishResult result;
    for (auto& [id, t] : tasks_) {
      if (t.state != protocol::TaskState::kRunning || t.worker != worker_id) continue;
      if (std::find(keep.begin(), keep.end(), id) != keep.end()) continue;
      result.items.push_back(
          End(id, t.token, worker_id, false, {},
              protocol::TaskError{"worker_lost", "fake: released", true}));
    }
    Later(std::move(cb), std::move(result));
  }
  void Cancel(std::vector<std::string> ids, std::string reason, Callback<CancelResult> cb,
              std::string owner = "", std::string batch = "") override {
    (void)owner;
    (void)batch;
    ++calls_.cancel;
    order_.push_back("cancel");
    CancelResult result;
    for (const auto& id : ids) {
      CancelOutcome out;
      out.task_id = id;
      auto it = tasks_.find(id);
      if (it == tasks_.end()) {
        out.status = CancelStatus::kNotFound;
      } else if (it->second.state == protocol::TaskState::kRunning) {
        out.status = CancelStatus::kCancelRequested;
        out.worker_id = it->second.worker;
        out.token = it->second.token;
      } else if (protocol::IsTerminal(it->second.state)) {
        out.status = CancelStatus::kFinished;
        out.state = it->second.state;
      } else {
        out.status = CancelStatus::kCancelled;
        it->second.state = protocol::TaskState::kCancelled;
        it->second.error = protocol::TaskError{"cancelled", reason, false};
        std::erase(ready_queues_[it->second.spec.queue], id);
      }
      result.items.push_back(std::move(out));
    }
    Later(std::move(cb), std::move(result));
  }
  void Get(std::vector<std::string> ids,
           Callback<std::vector<std::optional<protocol::TaskInfo>>> cb,
           std::string owner = "") override {
    (void)owner;
    ++calls_.get;
    order_.push_back("get");
    std::vector<std::optional<protocol::TaskInfo>> out;
    for (const auto& id : ids) {
      const Task* t = Find(id);
      if (t == nullptr) {
        out.emplace_back();
        continue;
      }
      protocol::TaskInfo info;
      info.id = id;
      info.queue = t->spec.queue;
      info.type = t->spec.type;
      info.state = t->state;
      info.attempts = t->attempt;
      info.output = t->output;
      info.error = t->error;
      out.emplace_back(std::move(info));
    }
    Later(std::move(cb), std::move(out));
  }
  void DeadRetry(std::string, std::vector<std::string> ids, uint32_t,
                 Callback<std::vector<std::string>> cb) override {
    ++calls_.dead_retry;
    order_.push_back("dead_retry");
    std::vector<std::string> retried;
    for (const auto& id : ids) {
      auto it = tasks_.find(id);
      if (it == tasks_.end() || it->second.state != protocol::TaskState::kFailed) continue;
      it->second.state = protocol::TaskState::kQueued;
      it->second.attempt = 0;
      ready_queues_[it->second.spec.queue].push_back(id);
      retried.push_back(id);
    }
    Later(std::move(cb), std::move(retried));
  }
  bool ready() const override { return ready_; }

 private:
  ClaimResult ClaimOne(const ClaimRequest& request) {
    ClaimResult result;
    for (const auto& q : request.queues) {
      auto& ready = ready_queues_[q];
      while (!ready.empty() && result.tasks.size() < request.n) {
        Task& t = tasks_.at(ready.front());
        ready.pop_front();
        t.state = protocol::TaskState::kRunning;
        t.token = ++next_token_;
        t.worker = request.worker_id;
        ++t.attempt;
        protocol::TaskMsg msg;
        msg.task_id = t.spec.id;
        msg.token = t.token;
        msg.attempt = t.attempt;
        msg.queue = t.spec.queue;
        msg.type = t.spec.type;
        msg.payload = t.spec.payload;
        msg.batch_id = t.spec.batch_id;
        result.tasks.push_back(std::move(msg));
        result.waited_ms.push_back(0);
      }
    }
    return result;
  }
  template <typename T>
  void Later(Callback<T> cb, std::type_identity_t<Result<T>> result) {
    replies_.push_back([cb = std::move(cb), result = std::move(result)]() mutable {
      cb(std::move(result));
    });
  }
  EnqueueOutcome Add(const protocol::TaskSpec& spec) {
    EnqueueOutcome out;
    out.id = spec.id;
    if (tasks_.contains(spec.id)) {
      out.error = Error{ErrorCode::kConflict, "fake: task " + spec.id + " exists"};
      return out;
    }
    Task& t = tasks_[spec.id];
    t.spec = spec;
    ready_queues_[spec.queue].push_back(spec.id);
    out.state = protocol::TaskState::kQueued;
    return out;
  }
  FinishOutcome End(const std::string& id, uint64_t token, const std::string& worker, bool ok,
                    const protocol::Bytes& output, const std::optional<protocol::TaskError>& error) {
    FinishOutcome out;
    out.task_id = id;
    auto it = tasks_.find(id);
    if (it == tasks_.end()) return out;  // kNotFound
    Task& t = it->second;
    out.queue = t.spec.queue;
    out.batch_id = t.spec.batch_id;
    out.attempt = t.attempt;
    if (t.state != protocol::TaskState::kRunning || t.token != token || t.worker != worker) {
      out.status = FinishStatus::kStale;
      return out;
    }
    if (ok) {
      t.state = protocol::TaskState::kSucceeded;
      t.output = output;
      out.status = FinishStatus::kSucceeded;
      if (t.attempt == 1) {
        out.summary.emplace();
        out.summary->type = t.spec.type;
        out.summary->max_attempts = t.spec.max_attempts;
        out.summary->worker = worker;
      }
    } else if (error && error->retryable && t.attempt < t.spec.max_attempts) {
      t.state = protocol::TaskState::kQueued;
      t.error = error;
      ready_queues_[t.spec.queue].push_back(id);
      out.status = FinishStatus::kRetry;
    } else {
      t.state = protocol::TaskState::kFailed;
      t.error = error;
      out.status = FinishStatus::kDead;
    }
    return out;
  }
  protocol::BatchStatus BatchOf(const std::string& batch_id) const {
    protocol::BatchStatus b;
    b.id = batch_id;
    for (const auto& [id, t] : tasks_) {
      if (t.spec.batch_id != batch_id) continue;
      ++b.total;
      ++b.counts[protocol::TaskStateName(t.state)];
    }
    bool over = b.counts["succeeded"] + b.counts["failed"] + b.counts["cancelled"] == b.total;
    b.state = over ? "succeeded" : "running";
    return b;
  }
  void AddBatchChange(BatchChanges& batches, const std::string& task_id) const {
    const Task* t = Find(task_id);
    if (t == nullptr || t->spec.batch_id.empty()) return;
    for (auto& b : batches) {
      if (b.id == t->spec.batch_id) return;
    }
    batches.push_back(BatchOf(t->spec.batch_id));
  }

  std::map<std::string, Task> tasks_;
  struct Recorded {
    std::string digest;
    std::vector<std::string> ids;  // a SUBMIT's task ids, or a BATCH's batch id
  };
  std::map<std::string, Recorded> request_ids_;  // by "<owner>|<request id>"
  std::map<std::string, std::deque<std::string>> ready_queues_;
  std::deque<std::function<void()>> replies_;
  std::vector<CancelRequested> extend_cancels_;
  std::vector<FinishOutcome> reap_items_;
  Calls calls_;
  std::vector<std::string> order_;
  std::vector<std::pair<std::string, std::string>> finished_by_;
  uint64_t next_token_ = 0;
  bool ready_ = true;
  ErrorCode finish_error_ = ErrorCode::kStoreUnavailable;
  int finish_failures_ = 0;
};

}  // namespace taskmill::broker::testing
