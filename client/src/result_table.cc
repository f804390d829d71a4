#include "result_table.h"

#include <chrono>

namespace taskmill::client {

void ResultTable::List::PushBack(Entry* e) {
  e->prev = tail;
  e->next = nullptr;
  (tail != nullptr ? tail->next : head) = e;
  tail = e;
  ++size;
}

void ResultTable::List::Remove(Entry* e) {
  (e->prev != nullptr ? e->prev->next : head) = e->next;
  (e->next != nullptr ? e->next->prev : tail) = e->prev;
  e->prev = e->next = nullptr;
  --size;
}

size_t ResultTable::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void ResultTable::Settle(Entry& entry) {
  if (entry.waiter == nullptr) return;
  if (--entry.waiter->remaining == 0) entry.waiter->cv.notify_one();
  entry.waiter = nullptr;
}

void ResultTable::Trim(List& list, size_t cap) {
  while (list.size > cap) {
    Entry* old = list.head;
    list.Remove(old);
    Settle(*old);
    entries_.erase(entries_.find(*old->id));  // by iterator: the key dies with the node
  }
}

void ResultTable::Expect(const std::vector<std::string>& ids) {
  std::lock_guard lock(mu_);
  for (const auto& id : ids) {
    if (id.empty()) continue;
    auto [it, fresh] = entries_.try_emplace(id);
    if (!fresh) continue;  // the push beat the reply (or a repeated id)
    it->second.id = &it->first;
    expected_.PushBack(&it->second);
  }
  Trim(expected_, 10 * max_kept_);
}

void ResultTable::OnResult(protocol::TaskInfo task) {
  std::lock_guard lock(mu_);
  auto [it, fresh] = entries_.try_emplace(task.id);
  Entry& e = it->second;
  if (fresh) {
    e.id = &it->first;
  } else {
    (e.task ? arrived_ : expected_).Remove(&e);  // a repeated push is kept as the newest
  }
  arrived_.PushBack(&e);
  e.task = std::move(task);
  Settle(e);
  Trim(arrived_, max_kept_);
}

void ResultTable::OnReconnect() {
  std::lock_guard lock(mu_);
  Trim(expected_, 0);
}

ResultTable::Awaited ResultTable::Await(const std::vector<std::string>& ids,
                                        int64_t deadline_ms, const Drive& drive) {
  Awaited out;
  out.tasks.resize(ids.size());
  std::vector<uint8_t> waited(ids.size(), 0);  // 1: this caller waits for the entry's push
  Waiter waiter;
  std::unique_lock lock(mu_);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = entries_.find(ids[i]);
    if (it == entries_.end()) continue;
    Entry& e = it->second;
    // Another caller awaits it already (or this one, for a repeated id): not ours.
    if (e.waiter != nullptr) continue;
    if (e.task) {  // arrived before anyone asked: take it now
      arrived_.Remove(&e);
      out.tasks[i] = std::move(e.task);
      entries_.erase(it);
      continue;
    }
    e.waiter = &waiter;
    ++waiter.remaining;
    waited[i] = 1;
  }
  if (waiter.remaining == 0) return out;  // nothing to wait for
  if (drive) {
    lock.unlock();
    drive([&] {
      std::lock_guard relock(mu_);
      return waiter.remaining == 0;
    });
    lock.lock();
  }
  auto until = std::chrono::steady_clock::time_point(std::chrono::milliseconds(deadline_ms));
  out.timed_out = !waiter.cv.wait_until(lock, until, [&] { return waiter.remaining == 0; });
  for (size_t i = 0; i < ids.size(); ++i) {
    if (waited[i] == 0) continue;
    auto it = entries_.find(ids[i]);
    if (it == entries_.end()) continue;  // dropped meanwhile
    Entry& e = it->second;
    if (e.waiter == &waiter) e.waiter = nullptr;  // timed out: stays expected
    if (!e.task) continue;
    arrived_.Remove(&e);
    out.tasks[i] = std::move(e.task);
    entries_.erase(it);
  }
  return out;
}

}  // namespace taskmill::client
