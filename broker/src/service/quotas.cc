#include "service/quotas.h"

#include <algorithm>

namespace taskmill::broker {

std::unexpected<Error> ClientQuotas::Refuse(std::string what) {
  ++refusals_;
  return std::unexpected(Error{ErrorCode::kOverLimit, std::move(what)});
}

Result<void> ClientQuotas::AdmitWait(const std::string& identity, uint64_t ids) {
  auto it = by_client_.find(identity);
  Held held = it == by_client_.end() ? Held{} : it->second;
  if (held.waits + 1 > limits_.waits_per_client) {
    return Refuse("quota: this client already has " + std::to_string(held.waits) +
                  " WAITs pending, the limit per client is " +
                  std::to_string(limits_.waits_per_client) + "; retry when some are answered");
  }
  if (held.ids + ids > limits_.wait_ids_per_client) {
    return Refuse("quota: this client's pending WAITs would hold " +
                  std::to_string(held.ids + ids) + " task ids, the limit per client is " +
                  std::to_string(limits_.wait_ids_per_client));
  }
  if (waits_ + 1 > limits_.waits_total || wait_ids_ + ids > limits_.wait_ids_total) {
    return Refuse("quota: the broker holds " + std::to_string(waits_) + " WAITs of " +
                  std::to_string(wait_ids_) + " task ids, its limits are " +
                  std::to_string(limits_.waits_total) + " and " +
                  std::to_string(limits_.wait_ids_total) + "; retry later");
  }
  Held& h = by_client_[identity];
  ++h.waits;
  h.ids += ids;
  ++waits_;
  wait_ids_ += ids;
  return {};
}

void ClientQuotas::ReleaseWait(const std::string& identity, uint64_t ids) {
  auto it = by_client_.find(identity);
  if (it == by_client_.end()) return;
  Held& h = it->second;
  uint64_t n = std::min(ids, h.ids);
  h.ids -= n;
  wait_ids_ -= std::min(n, wait_ids_);
  if (h.waits > 0) {
    --h.waits;
    if (waits_ > 0) --waits_;
  }
  if (h.waits == 0) by_client_.erase(it);
}

Result<void> ClientQuotas::AdmitSubscription(uint64_t client_subscriptions,
                                             uint64_t total_subscriptions, uint64_t watched_tasks,
                                             uint64_t tasks) {
  if (client_subscriptions + 1 > limits_.subscriptions_per_client) {
    return Refuse("quota: this client already subscribes to " +
                  std::to_string(client_subscriptions) + " batches, the limit per client is " +
                  std::to_string(limits_.subscriptions_per_client));
  }
  if (total_subscriptions + 1 > limits_.subscriptions_total ||
      watched_tasks + tasks > limits_.watched_tasks_total) {
    return Refuse("quota: the broker holds " + std::to_string(total_subscriptions) +
                  " subscriptions watching " + std::to_string(watched_tasks) +
                  " tasks, its limits are " + std::to_string(limits_.subscriptions_total) +
                  " and " + std::to_string(limits_.watched_tasks_total) + "; retry later");
  }
  return {};
}

}  // namespace taskmill::broker
