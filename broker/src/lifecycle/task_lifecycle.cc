#include "lifecycle/task_lifecycle.h"

#include <algorithm>
#include <memory>

#include "metrics/broker_metrics.h"
#include "taskmill/shared/log.h"

namespace taskmill::broker {
namespace {

auto Log() {
  static auto log = Logger("broker.lifecycle");
  return log;
}

}  // namespace

TaskLifecycle::TaskLifecycle(TaskStore& store, const Clock& clock, LifecycleOptions options,
                             BrokerCounters& counters, BrokerMetrics* metrics)
    : store_(store), clock_(clock), options_(options), counters_(counters), metrics_(metrics) {}

void TaskLifecycle::Subscribe(LifecycleObserver& observer) { observers_.push_back(&observer); }

void TaskLifecycle::PublishEnded(const std::string& task_id, protocol::TaskInfo* known) {
  for (auto* o : observers_) o->TaskEnded(task_id, known);
}

void TaskLifecycle::PublishExpired(const std::vector<ExpiredTask>& expired) {
  for (const auto& e : expired) {
    PublishEnded(e.task_id, nullptr);
    for (const auto& id : e.cancelled) {
      for (auto* o : observers_) o->TaskCancelled(id, "dependency_failed");
      PublishEnded(id, nullptr);
    }
  }
}

void TaskLifecycle::PublishQueues(const std::vector<std::string>& queues) {
  if (queues.empty()) return;
  for (auto* o : observers_) o->QueuesReady(queues);
}

void TaskLifecycle::PublishBatches(const BatchChanges& batches) {
  if (batches.empty()) return;
  for (auto* o : observers_) o->BatchesChanged(batches);
  // A batch that just ended stored its finally task as ready (start_finally in
  // lib/prelude.lua): wake the idle workers, as a release does.
  if (std::any_of(batches.begin(), batches.end(), [](const protocol::BatchStatus& b) {
        return !b.finally_id.empty() && b.state != "running" && !b.state.empty();
      })) {
    PublishQueues({""});
  }
}

// ---- submits ----

void TaskLifecycle::Submit(std::vector<protocol::TaskSpec> specs, std::string owner,
                           SubmitDone done, RequestKey request) {
  submits_.push_back({submit_specs_.size(), specs.size(), std::move(owner), std::move(done),
                      std::move(request)});
  for (auto& spec : specs) submit_specs_.push_back(std::move(spec));
}

void TaskLifecycle::FlushSubmits() {
  if (submits_.empty()) return;
  auto requests = std::move(submits_);
  submits_.clear();
  auto specs = std::move(submit_specs_);
  submit_specs_.clear();
  if (!options_.submit_alone || requests.size() == 1) {
    EnqueueSubmits(std::move(requests), std::move(specs));
    return;
  }
  // With a depth cap, a queue_full must reject only the SUBMIT that overflows, so each SUBMIT
  // is its own atomic store call (still one pipeline for the turn).
  for (auto& req : requests) {
    std::vector<protocol::TaskSpec> own(
        std::make_move_iterator(specs.begin() + static_cast<ptrdiff_t>(req.first)),
        std::make_move_iterator(specs.begin() + static_cast<ptrdiff_t>(req.first + req.count)));
    req.first = 0;
    std::vector<PendingSubmit> one;
    one.push_back(std::move(req));
    EnqueueSubmits(std::move(one), std::move(own));
  }
}

void TaskLifecycle::SubmitTick(protocol::TaskSpec spec, std::string owner, TickClaim tick,
                               Callback<TickOutcome> done) {
  // Woken before the claim is known: a broker that loses the tick wakes its workers for
  // nothing (one empty claim each), which costs less than a second round trip per tick.
  if (tick.fire) {
    std::vector<ReadyTasks> ready = {{spec.queue, spec.type, 1}};
    for (auto* o : observers_) o->TasksEnqueued(ready);
  }
  store_.EnqueueTick(std::move(spec), owner, tick, std::move(done));
}

void TaskLifecycle::EnqueueSubmits(std::vector<PendingSubmit> requests,
                                   std::vector<protocol::TaskSpec> specs) {
  // Workers with free slots for these tasks claim in this same turn: their claims follow the
  // enqueue down the one Redis connection, so they run right after it without waiting for
  // its reply (one round trip less between a SUBMIT and its TASK). Only as many are woken as
  // the tasks need; those without a free slot now claim once they have one (never idle).
  std::vector<ReadyTasks> ready;
  for (const auto& s : specs) {
    auto it = std::find_if(ready.begin(), ready.end(), [&](const ReadyTasks& r) {
      return r.queue == s.queue && r.type == s.type;
    });
    if (it == ready.end()) {
      ready.push_back({s.queue, s.type, 1});
    } else {
      ++it->count;
    }
  }
  for (auto* o : observers_) o->TasksEnqueued(ready);
  std::vector<std::string> owners;
  if (std::any_of(requests.begin(), requests.end(),
                  [](const PendingSubmit& r) { return !r.owner.empty(); })) {
    owners.resize(specs.size());
    for (const auto& req : requests) {
      for (size_t i = req.first; i < req.first + req.count && i < owners.size(); ++i) {
        owners[i] = req.owner;
      }
    }
  }
  std::vector<RequestKey> tags;  // the request ids, placed at each SUBMIT's specs
  for (const auto& req : requests) {
    if (req.request.id.empty()) continue;
    RequestKey tag = req.request;
    tag.first = req.first;
    tag.count = req.count;
    tags.push_back(std::move(tag));
  }
  // Several SUBMITs share one call: their specs are kept until its reply, so that if the call
  // fails for a reason that is not the store's own, each SUBMIT is enqueued again alone and
  // none can fail another (their checks at the edge should leave no such reason).
  std::shared_ptr<std::vector<protocol::TaskSpec>> kept;  // co-owned by the callback
  if (requests.size() > 1) {
    kept = std::make_shared<std::vector<protocol::TaskSpec>>(std::move(specs));
  }
  store_.Enqueue(kept ? *kept : specs, [this, requests = std::move(requests),
                                        kept](Result<EnqueueResult> r) mutable {
    if (!r && kept && !IsStoreError(r.error().code)) {
      Log()->debug("an enqueue of {} SUBMITs failed ({}); enqueueing each alone", requests.size(),
                   r.error().ToString());
      for (auto& req : requests) {
        std::vector<protocol::TaskSpec> own(
            std::make_move_iterator(kept->begin() + static_cast<ptrdiff_t>(req.first)),
            std::make_move_iterator(kept->begin() + static_cast<ptrdiff_t>(req.first + req.count)));
        req.first = 0;
        std::vector<PendingSubmit> one;
        one.push_back(std::move(req));
        EnqueueSubmits(std::move(one), std::move(own));
      }
      return;
    }
    for (auto& req : requests) {
      if (!r) {
        req.done(std::unexpected(r.error()));
        continue;
      }
      size_t first = std::min(req.first, r->items.size());
      size_t count = std::min(req.count, r->items.size() - first);
      req.done(std::span<const EnqueueOutcome>(r->items.data() + first, count));
    }
    if (r) PublishBatches(r->batches);
  }, owners, tags);
}

void TaskLifecycle::SubmitBatch(std::string batch_id, BatchSettings budget,
                                std::vector<protocol::TaskSpec> specs, std::string owner,
                                Callback<EnqueueResult> done, RequestKey request) {
  std::vector<std::string> queues;
  for (const auto& t : specs) {
    if (std::find(queues.begin(), queues.end(), t.queue) == queues.end()) queues.push_back(t.queue);
  }
  store_.EnqueueBatch(
      std::move(batch_id), std::move(budget), std::move(specs),
      [this, done = std::move(done), queues = std::move(queues)](Result<EnqueueResult> r) {
        // All or nothing: an item error means nothing was stored.
        bool stored = r && r->replayed_batch.empty() &&
                      std::none_of(r->items.begin(), r->items.end(),
                                   [](const EnqueueOutcome& i) { return i.error; });
        BatchChanges batches;
        if (stored) batches = r->batches;
        done(std::move(r));
        if (!stored) return;
        PublishQueues(queues);
        PublishBatches(batches);
      },
      std::move(owner), std::move(request));
}

// ---- claims ----

void TaskLifecycle::Claim(ClaimRequest request, Callback<ClaimResult> done) {
  claims_.push_back({std::move(request), std::move(done)});
}

void TaskLifecycle::FlushClaims() {
  if (claims_.empty()) return;
  auto claims = std::move(claims_);
  claims_.clear();
  // Every worker's claim of the turn in one store call (one script run), split so that no
  // call leases more than kMaxClaimTasksPerCall: a script blocks Redis while it runs.
  size_t first = 0;
  while (first < claims.size()) {
    size_t end = first;
    uint64_t tasks = 0;
    while (end < claims.size() && (end == first || tasks + claims[end].request.n <=
                                                       kMaxClaimTasksPerCall)) {
      tasks += claims[end].request.n;
      ++end;
    }
    std::vector<ClaimRequest> requests;
    std::vector<Callback<ClaimResult>> dones;
    requests.reserve(end - first);
    dones.reserve(end - first);
    for (size_t i = first; i < end; ++i) {
      requests.push_back(std::move(claims[i].request));
      dones.push_back(std::move(claims[i].done));
    }
    first = end;
    store_.ClaimMany(std::move(requests), [this, dones = std::move(dones)](
                                              Result<ClaimsResult> r) mutable {
      if (!r) {
        Log()->warn("claim failed: {}", r.error().ToString());
        for (auto& done : dones) done(std::unexpected(r.error()));
        return;
      }
      for (size_t c = 0; c < dones.size(); ++c) {
        Result<ClaimResult> one =
            c < r->claims.size() ? std::move(r->claims[c])
                                 : MakeError(ErrorCode::kInternal, "claim: no result");
        if (!one) {
          Log()->warn("claim failed: {}", one.error().ToString());
          dones[c](std::move(one));
          continue;
        }
        if (metrics_ != nullptr) {
          for (size_t i = 0; i < one->tasks.size() && i < one->waited_ms.size(); ++i) {
            metrics_->TaskClaimed(one->tasks[i].queue, one->waited_ms[i]);
          }
        }
        // TaskStarted is the dispatcher's to publish (Started), for the tasks it did send.
        dones[c](std::move(one));
      }
      PublishExpired(r->expired);
      PublishBatches(r->batches);
      // A claim cut short by tasks it expired: the workers it served may take more now.
      if (!r->expired.empty()) PublishQueues({""});
    });
  }
}

void TaskLifecycle::Started(const protocol::TaskMsg& task) {
  for (auto* o : observers_) o->TaskStarted(task);
}

void TaskLifecycle::Progressed(const std::string& task_id, double fraction,
                               const std::string& message) {
  for (auto* o : observers_) o->TaskProgressed(task_id, fraction, message);
}

// ---- results ----

void TaskLifecycle::Finish(const std::string& worker_id, protocol::Done done) {
  results_[worker_id].push_back(std::move(done));
}

size_t TaskLifecycle::pending_results() const {
  size_t n = 0;
  for (const auto& [id, dones] : results_) n += dones.size();
  return n;
}

void TaskLifecycle::FlushResults() {
  // While Redis is away, DONEs wait here: they are recorded once it is back.
  if (results_.empty() || !store_.ready() || clock_.MonotonicMs() < results_retry_at_ms_) return;
  auto pending = std::move(results_);
  results_.clear();
  // Every worker's DONEs of the turn in one store call, split between workers once a call
  // holds kMaxDonesPerCall (one worker's DONEs always go together).
  auto kept = std::make_shared<KeptResults>();  // co-owned by the callback
  for (auto& [worker_id, dones] : pending) {
    if (!kept->done.empty() && kept->done.size() + dones.size() > kMaxDonesPerCall) {
      RecordResults(std::move(kept));
      kept = std::make_shared<KeptResults>();
    }
    kept->groups.push_back({worker_id, dones.size()});
    for (auto& d : dones) kept->done.push_back(std::move(d));
  }
  RecordResults(std::move(kept));
}

void TaskLifecycle::RecordResults(std::shared_ptr<KeptResults> kept) {
  store_.FinishMany(kept->groups, kept->done, [this, kept](Result<FinishResult> r) {
    if (!r) {
      if (IsStoreError(r.error().code)) {
        // The reply was lost, Redis went away or is full: send them again once it is back
        // (full: after store_full_retry_ms), each under its worker. If the script did run,
        // the repeat is fenced off as stale; nothing is recorded twice.
        if (r.error().code == ErrorCode::kStoreFull) {
          results_retry_at_ms_ = clock_.MonotonicMs() + options_.store_full_retry_ms;
          Log()->debug("recording results: {}; trying again", r.error().message);
        }
        auto next = kept->done.begin();
        for (const auto& g : kept->groups) {
          auto& pending = results_[g.worker_id];
          auto end = next + static_cast<ptrdiff_t>(g.count);
          for (; next != end; ++next) pending.push_back(std::move(*next));
        }
      } else {
        Log()->warn("recording results failed: {}", r.error().ToString());
      }
      return;
    }
    Finished(*r, &kept->done);
  });
}

bool TaskLifecycle::Finished(const FinishResult& result, std::vector<protocol::Done>* dones) {
  bool released = false;  // a child became ready: every idle worker is woken, once per reply
  for (size_t i = 0; i < result.items.size(); ++i) {
    const auto& item = result.items[i];
    protocol::Done* done = dones != nullptr && i < dones->size() ? &(*dones)[i] : nullptr;
    if (done != nullptr && done->task_id != item.task_id) done = nullptr;
    if (metrics_ != nullptr && done != nullptr && item.status != FinishStatus::kStale &&
        item.status != FinishStatus::kNotFound && item.status != FinishStatus::kNotAwaiting &&
        item.status != FinishStatus::kBadToken) {
      metrics_->TaskRan(item.queue, done->duration_ms);
    }
    for (auto* o : observers_) o->TaskFinished(item, done);
    switch (item.status) {
      case FinishStatus::kStale:
        ++counters_.stale_results;
        break;
      case FinishStatus::kSucceeded:
        if (item.summary && done != nullptr &&
            std::any_of(observers_.begin(), observers_.end(),
                        [&](const LifecycleObserver* o) { return o->WantsResult(item.task_id); })) {
          protocol::TaskInfo task = SucceededTask(item, std::move(*done));  // done's last use
          PublishEnded(item.task_id, &task);
          break;
        }
        PublishEnded(item.task_id, nullptr);
        break;
      case FinishStatus::kDead:
      case FinishStatus::kCancelled:
        PublishEnded(item.task_id, nullptr);
        break;
      case FinishStatus::kRetry:
      case FinishStatus::kNotFound:
      case FinishStatus::kAwaiting:
      case FinishStatus::kNotAwaiting:
      case FinishStatus::kBadToken:
      case FinishStatus::kPoll:
        break;
    }
    for (const auto& id : item.cancelled) PublishEnded(id, nullptr);
    // A fail_fast batch's death stops its running tasks as CANCEL does; a worker on another
    // broker hears of it at its next lease extension (extend.lua reports the flag).
    for (const auto& stop : item.cancel_requests) {
      for (auto* o : observers_) {
        o->CancelRequested(stop.worker_id, stop.task_id, stop.token, "batch_failed");
      }
    }
    released = released || !item.released.empty();
  }
  if (released) PublishQueues({""});
  PublishBatches(result.batches);
  return released;
}

void TaskLifecycle::Complete(protocol::Complete complete, Callback<FinishOutcome> done) {
  auto d = CompletionDone(std::move(complete));
  if (!d) return done(std::unexpected(d.error()));
  // One DONE of no worker (""): finish.lua checks the token instead of a lease, then records
  // it exactly as a worker's DONE (costs, children released, RESULT pushes, batch events).
  auto dones = std::make_shared<std::vector<protocol::Done>>();
  dones->push_back(std::move(*d));
  store_.FinishMany({DoneGroup{"", 1}}, *dones,
                    [this, dones, done = std::move(done)](Result<FinishResult> r) {
                      if (!r) return done(std::unexpected(r.error()));
                      if (r->items.size() != 1) {
                        return done(MakeError(ErrorCode::kInternal, "complete: no outcome"));
                      }
                      FinishOutcome outcome = r->items[0];
                      Finished(*r, dones.get());
                      done(std::move(outcome));
                    });
}

// ---- releases, leases, timers ----

void TaskLifecycle::ReleaseWorker(const std::string& worker_id, std::vector<std::string> keep) {
  releases_.emplace_back(worker_id, std::move(keep));
}

void TaskLifecycle::FlushReleases() {
  auto releases = std::move(releases_);
  releases_.clear();
  for (auto& [id, keep] : releases) {
    store_.ReleaseWorker(id, [this, id](Result<FinishResult> r) {
      if (!r) {
        // The leases stay in Redis and the reaper re-queues them when they expire.
        Log()->warn("releasing worker {} failed: {}", id, r.error().ToString());
        return;
      }
      // The worker's leases went back to their queues: wake every idle worker (once).
      if (!Finished(*r, nullptr)) PublishQueues({""});
    }, std::move(keep));
  }
}

void TaskLifecycle::ExtendLeases(const std::string& worker_id, uint32_t lease_ms) {
  store_.Extend(worker_id, lease_ms, [this, worker_id](Result<ExtendResult> r) {
    if (!r) return;
    // Cancels requested through another broker reach the worker here.
    for (const auto& c : r->cancel_requested) {
      for (auto* o : observers_) o->CancelRequested(worker_id, c.task_id, c.token, c.reason);
    }
  });
}

void TaskLifecycle::Reap(uint32_t limit) {
  store_.Reap(limit, [this](Result<FinishResult> r) {
    if (r) Finished(*r, nullptr);
  });
}

void TaskLifecycle::Promote(uint32_t limit) {
  store_.Promote(limit, [this](Result<PromoteResult> r) {
    if (!r) return;
    PublishExpired(r->expired);
    PublishQueues(r->queues);
    PublishBatches(r->batches);
  });
}

// ---- cancels and dead letters ----

void TaskLifecycle::Cancel(std::vector<std::string> ids, std::string reason, std::string owner,
                           Callback<CancelResult> done, std::string batch) {
  store_.Cancel(
      std::move(ids), reason,
      [this, reason, done = std::move(done)](Result<CancelResult> r) {
        if (!r) return done(std::move(r));
        for (const auto& item : r->items) {
          switch (item.status) {
            case CancelStatus::kCancelled:
              for (auto* o : observers_) o->TaskCancelled(item.task_id, reason);
              PublishEnded(item.task_id, nullptr);
              for (const auto& id : item.cancelled) {
                for (auto* o : observers_) o->TaskCancelled(id, "dependency_failed");
                PublishEnded(id, nullptr);
              }
              break;
            case CancelStatus::kCancelRequested:
              for (auto* o : observers_) {
                o->CancelRequested(item.worker_id, item.task_id, item.token, reason);
              }
              break;
            case CancelStatus::kFinished:
            case CancelStatus::kNotFound:
              break;
          }
        }
        PublishBatches(r->batches);
        done(std::move(r));
      },
      std::move(owner), std::move(batch));
}

void TaskLifecycle::RetryDead(std::string queue, std::vector<std::string> ids, uint32_t limit,
                              Callback<std::vector<std::string>> done) {
  store_.DeadRetry(std::move(queue), std::move(ids), limit,
                   [this, done = std::move(done)](Result<std::vector<std::string>> r) {
                     if (r) PublishQueues({""});
                     done(std::move(r));
                   });
}

// ---- the turn ----

void TaskLifecycle::EndTurn() {
  FlushSubmits();
  FlushResults();
  FlushReleases();
  for (auto* o : observers_) o->ClaimsDue();
  FlushClaims();
}

}  // namespace taskmill::broker
