#include "cluster/cluster_bus.h"

#include <algorithm>

#include "taskmill/shared/log.h"

namespace taskmill::broker {
namespace {

std::shared_ptr<spdlog::logger> Log() { return Logger("broker.bus"); }

}  // namespace

ClusterBus::Publisher ClusterBus::On(RedisConnection& redis) {
  return [&redis](const std::string& channel, std::string payload) {
    redis.Command({"PUBLISH", channel, std::move(payload)}, [](Result<const redisReply*>) {});
  };
}

ClusterBus::ClusterBus(std::string broker_id, const std::string& prefix, Publisher publish,
                       RedisConnection& subscribe, const Clock& clock)
    : id_(std::move(broker_id)),
      ctl_channel_(prefix + "bus"),
      own_channel_(prefix + "bus:" + id_),
      inbox_prefix_(prefix + "bus:"),
      publish_(std::move(publish)),
      subscribe_(subscribe),
      clock_(clock) {
  pending_watch_.broker = id_;
  subscribe_.SetStateCallback([this](RedisConnection::State s) {
    if (s != RedisConnection::State::kReady) {
      if (subscribed_) Log()->warn("bus: unsubscribed (Redis connection lost)");
      subscribed_ = false;
      return;
    }
    confirmations_ = 0;
    subscribe_.Subscribe({ctl_channel_, own_channel_},
                         [this](const redisReply* r) { OnPush(r); });
  });
}

void ClusterBus::OnPush(const redisReply* r) {
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) return;
  const redisReply* kind = r->element[0];
  if (kind->type != REDIS_REPLY_STRING) return;
  std::string_view k(kind->str, kind->len);
  if (k == "subscribe") {
    if (++confirmations_ == 2) OnSubscribed();
    return;
  }
  if (k != "message" || r->element[1]->type != REDIS_REPLY_STRING ||
      r->element[2]->type != REDIS_REPLY_STRING) {
    return;
  }
  OnMessage(std::string_view(r->element[1]->str, r->element[1]->len),
            std::string_view(r->element[2]->str, r->element[2]->len));
}

void ClusterBus::OnSubscribed() {
  subscribed_ = true;
  ++counters_.resubscribes;
  Log()->info("bus: subscribed to {} and {}", ctl_channel_, own_channel_);
  // Whatever was published while this broker was not listening is lost: the others announce
  // their watches again, this broker announces its own, and what it watches is re-read.
  Publish(ctl_channel_, bus::EncodeCtl({bus::Hello{id_}}));
  AnnounceAll();
  for (auto& resync : resyncs_) resync();
}

void ClusterBus::AnnounceAll() {
  std::vector<bus::CtlMessage> msgs;
  bus::Watch w{id_, {}, {}};
  auto flush = [&] {
    if (w.tasks.empty() && w.batches.empty()) return;
    msgs.emplace_back(std::move(w));
    w = bus::Watch{id_, {}, {}};
  };
  for (const auto& t : own_tasks_) {
    w.tasks.push_back(t);
    if (w.tasks.size() >= kChunk) flush();
  }
  for (const auto& b : own_batches_) {
    w.batches.push_back(b);
    if (w.batches.size() >= kChunk) flush();
  }
  flush();
  for (size_t i = 0; i < msgs.size(); i += 16) {
    size_t end = std::min(msgs.size(), i + 16);
    Publish(ctl_channel_, bus::EncodeCtl(std::vector<bus::CtlMessage>(
                              std::make_move_iterator(msgs.begin() + static_cast<long>(i)),
                              std::make_move_iterator(msgs.begin() + static_cast<long>(end)))));
  }
}

void ClusterBus::Publish(const std::string& channel, std::string payload) {
  ++counters_.published;
  publish_(channel, std::move(payload));
}

void ClusterBus::WatchTask(const std::string& task_id) {
  if (own_tasks_.size() >= kMaxOwnWatches) return;  // the periodic re-read serves the rest
  if (own_tasks_.insert(task_id).second) pending_watch_.tasks.push_back(task_id);
}

void ClusterBus::WatchTasks(const std::vector<std::string>& task_ids) {
  for (const auto& id : task_ids) WatchTask(id);
}

void ClusterBus::WatchBatch(const std::string& batch_id) {
  if (own_batches_.size() >= kMaxOwnWatches) return;
  if (own_batches_.insert(batch_id).second) pending_watch_.batches.push_back(batch_id);
}

bool ClusterBus::AddWatcher(Watchers& w, const std::string& key, const std::string& broker) {
  if (w.size() >= kMaxRemoteWatches && !w.contains(key)) return false;
  auto& brokers = w[key];
  if (std::find(brokers.begin(), brokers.end(), broker) != brokers.end()) return false;
  brokers.push_back(broker);
  return true;
}

void ClusterBus::SendOrKeep(const std::string& batch_id, const bus::Event& e) {
  if (auto it = remote_batches_.find(batch_id); it != remote_batches_.end()) {
    return Send(it->second, e);
  }
  if (!keep_) return;
  int64_t now = clock_.MonotonicMs();
  kept_.push_back({now, batch_id, e});
  Prune(now);
}

void ClusterBus::Prune(int64_t now_ms) {
  while (!kept_.empty() &&
         (kept_.size() > kMaxReplay || now_ms - kept_.front().at_ms > kReplayMs)) {
    const Kept& k = kept_.front();
    // A task started unwatched is routed no longer once its start is forgotten.
    if (auto* st = std::get_if<bus::Started>(&k.event);
        st != nullptr && !remote_batches_.contains(k.batch_id)) {
      running_.erase(st->task_id);
    }
    kept_.pop_front();
  }
}

void ClusterBus::Replay(const std::string& batch_id, const std::string& broker) {
  Prune(clock_.MonotonicMs());
  const std::vector<std::string> to{broker};
  for (const auto& k : kept_) {
    if (k.batch_id == batch_id) Send(to, k.event);
  }
}

void ClusterBus::Send(const std::vector<std::string>& to, const bus::Event& e) {
  for (const auto& b : to) {
    outbox_[b].push_back(e);
    ++counters_.events_sent;
  }
}

// ---- this broker's outcomes ----

void ClusterBus::TaskEnded(const std::string& task_id, protocol::TaskInfo* /*known*/) {
  own_tasks_.erase(task_id);
  if (remote_tasks_.empty()) return;
  auto it = remote_tasks_.find(task_id);
  if (it == remote_tasks_.end()) return;
  Send(it->second, bus::Ended{task_id});
  remote_tasks_.erase(it);
}

void ClusterBus::TaskStarted(const protocol::TaskMsg& task) {
  if (task.batch_id.empty()) return;
  if (!keep_ && !remote_batches_.contains(task.batch_id)) return;
  running_[task.task_id] = task.batch_id;
  SendOrKeep(task.batch_id, bus::Started{task.batch_id, task.task_id, task.name, task.attempt});
}

void ClusterBus::TaskProgressed(const std::string& task_id, double fraction,
                                const std::string& message) {
  const std::vector<std::string>* batch = nullptr;
  if (auto r = running_.find(task_id); r != running_.end()) {
    if (auto it = remote_batches_.find(r->second); it != remote_batches_.end()) {
      batch = &it->second;
    } else {
      SendOrKeep(r->second, bus::Progressed{task_id, fraction, message});  // kept
    }
  }
  const std::vector<std::string>* task = nullptr;
  if (auto it = remote_tasks_.find(task_id); it != remote_tasks_.end()) task = &it->second;
  if (batch == nullptr && task == nullptr) return;
  // A broker watching both hears it once.
  std::vector<std::string> to = batch != nullptr ? *batch : std::vector<std::string>{};
  if (task != nullptr) {
    for (const auto& b : *task) {
      if (std::find(to.begin(), to.end(), b) == to.end()) to.push_back(b);
    }
  }
  Send(to, bus::Progressed{task_id, fraction, message});
}

void ClusterBus::TaskFinished(const FinishOutcome& outcome, const protocol::Done* done) {
  if (outcome.batch_id.empty()) return;
  running_.erase(outcome.task_id);
  if (!keep_ && !remote_batches_.contains(outcome.batch_id)) return;
  bus::Finished f;
  f.outcome.task_id = outcome.task_id;
  f.outcome.batch_id = outcome.batch_id;
  f.outcome.status = outcome.status;
  f.outcome.attempt = outcome.attempt;
  f.outcome.cancelled = outcome.cancelled;
  f.outcome.budget_cancelled = outcome.budget_cancelled;
  f.outcome.fail_fast_cancelled = outcome.fail_fast_cancelled;
  if (done != nullptr) {
    protocol::Done d;
    d.task_id = done->task_id;
    d.ok = done->ok;
    d.cost = done->cost;
    d.error = done->error;
    f.done = std::move(d);
  }
  SendOrKeep(outcome.batch_id, f);
}

void ClusterBus::TaskCancelled(const std::string& task_id, const std::string& reason) {
  if (remote_batches_.empty()) return;
  // A cancel names no batch: every broker watching some batch hears it; one that does not
  // watch the task's batch ignores it. Who that is is worked out once after the watches
  // change, not per task (a batch's cancel ends each of its tasks here in turn).
  if (batch_watchers_stale_) {
    batch_watchers_.clear();
    for (const auto& [batch, brokers] : remote_batches_) {
      for (const auto& b : brokers) {
        if (std::find(batch_watchers_.begin(), batch_watchers_.end(), b) ==
            batch_watchers_.end()) {
          batch_watchers_.push_back(b);
        }
      }
    }
    batch_watchers_stale_ = false;
  }
  Send(batch_watchers_, bus::Cancelled{task_id, reason});
}

void ClusterBus::BatchesChanged(const BatchChanges& batches) {
  for (const auto& b : batches) {
    bool over = b.state != "running" && !b.state.empty();
    if (over) own_batches_.erase(b.id);
    auto it = remote_batches_.find(b.id);
    if (it == remote_batches_.end()) {
      if (keep_) SendOrKeep(b.id, bus::BatchChanged{b});
      continue;
    }
    Send(it->second, bus::BatchChanged{b});
    if (over) {
      remote_batches_.erase(it);
      batch_watchers_stale_ = true;
    }
  }
}

void ClusterBus::FlushWatches() {
  if (pending_watch_.tasks.empty() && pending_watch_.batches.empty()) return;
  std::vector<bus::CtlMessage> msgs;
  msgs.emplace_back(std::move(pending_watch_));
  pending_watch_ = bus::Watch{id_, {}, {}};
  Publish(ctl_channel_, bus::EncodeCtl(msgs));
}

void ClusterBus::PublishAdmin(const std::string& what, const std::string& name) {
  Publish(ctl_channel_, bus::EncodeCtl({bus::Admin{id_, what, name}}));
}

void ClusterBus::Flush() {
  FlushWatches();
  for (auto& [broker, events] : outbox_) {
    for (size_t i = 0; i < events.size(); i += kChunk) {
      size_t end = std::min(events.size(), i + kChunk);
      std::vector<bus::Event> chunk(std::make_move_iterator(events.begin() + static_cast<long>(i)),
                                    std::make_move_iterator(events.begin() + static_cast<long>(end)));
      Publish(inbox_prefix_ + broker, bus::EncodeEvents(chunk));
    }
  }
  outbox_.clear();
}

void ClusterBus::ForgetBrokersExcept(const std::unordered_set<std::string>& live) {
  for (Watchers* w : {&remote_tasks_, &remote_batches_}) {
    for (auto it = w->begin(); it != w->end();) {
      std::erase_if(it->second, [&](const std::string& b) { return !live.contains(b); });
      it = it->second.empty() ? w->erase(it) : std::next(it);
    }
  }
  batch_watchers_stale_ = true;
  keep_ = std::any_of(live.begin(), live.end(), [&](const std::string& b) { return b != id_; });
  if (!keep_) kept_.clear();
}

// ---- what other brokers send ----

void ClusterBus::OnMessage(std::string_view channel, std::string_view payload) {
  if (channel == ctl_channel_) {
    OnCtl(payload);
  } else if (channel == own_channel_) {
    OnEvents(payload);
  }
}

void ClusterBus::OnCtl(std::string_view payload) {
  auto msgs = bus::DecodeCtl(payload);
  if (!msgs) {
    ++counters_.bad_messages;
    Log()->debug("bus: refused a ctl payload: {}", msgs.error().message);
    return;
  }
  bool hello = false;
  for (auto& m : *msgs) {
    if (auto* w = std::get_if<bus::Watch>(&m)) {
      if (w->broker == id_) continue;
      for (const auto& t : w->tasks) AddWatcher(remote_tasks_, t, w->broker);
      for (const auto& b : w->batches) {
        if (AddWatcher(remote_batches_, b, w->broker)) Replay(b, w->broker);
      }
      if (!w->batches.empty()) batch_watchers_stale_ = true;
    } else if (auto* a = std::get_if<bus::Admin>(&m)) {
      if (a->broker != id_ && on_admin_) on_admin_(*a);
    } else if (std::get<bus::Hello>(m).broker != id_) {
      hello = true;
    }
  }
  if (hello) AnnounceAll();
}

void ClusterBus::OnEvents(std::string_view payload) {
  auto events = bus::DecodeEvents(payload);
  if (!events) {
    ++counters_.bad_messages;
    Log()->debug("bus: refused an events payload: {}", events.error().message);
    return;
  }
  counters_.events_received += events->size();
  for (auto& e : *events) {
    if (auto* en = std::get_if<bus::Ended>(&e)) {
      own_tasks_.erase(en->task_id);
      for (auto* l : listeners_) l->TaskEnded(en->task_id, nullptr);
    } else if (auto* st = std::get_if<bus::Started>(&e)) {
      protocol::TaskMsg task;
      task.task_id = st->task_id;
      task.batch_id = st->batch_id;
      task.name = st->name;
      task.attempt = st->attempt;
      for (auto* l : listeners_) l->TaskStarted(task);
    } else if (auto* pr = std::get_if<bus::Progressed>(&e)) {
      for (auto* l : listeners_) l->TaskProgressed(pr->task_id, pr->fraction, pr->message);
    } else if (auto* fi = std::get_if<bus::Finished>(&e)) {
      const protocol::Done* done = fi->done ? &*fi->done : nullptr;
      for (auto* l : listeners_) l->TaskFinished(fi->outcome, done);
    } else if (auto* ca = std::get_if<bus::Cancelled>(&e)) {
      for (auto* l : listeners_) l->TaskCancelled(ca->task_id, ca->reason);
    } else {
      auto& b = std::get<bus::BatchChanged>(e).batch;
      if (b.state != "running" && !b.state.empty()) own_batches_.erase(b.id);
      BatchChanges changes{std::move(b)};
      for (auto* l : listeners_) l->BatchesChanged(changes);
    }
  }
}

}  // namespace taskmill::broker
