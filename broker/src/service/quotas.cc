#include "service/quotas.h"

#include <algorithm>

namespace taskmill::broker {

std::unexpected<Error> ClientQuotas::Refuse(std::string what) {
  ++refusals_;
  return std::unexpected(Error{ErrorCode::kOverLimit, std::move(what)});
}

void ClientQuotas::SeenConnection(const std::string& identity, const std::string& user_id) {
  if (user_id.empty()) return;
  auto [it, added] = key_of_.try_emplace(identity, user_id);
  if (!added) {
    if (it->second == user_id) return;
    ForgetConnection(identity);
    key_of_[identity] = user_id;
  }
  connections_of_[user_id].insert(identity);
}

void ClientQuotas::ForgetConnection(const std::string& identity) {
  auto it = key_of_.find(identity);
  if (it == key_of_.end()) return;
  auto c = connections_of_.find(it->second);
  if (c != connections_of_.end()) {
    c->second.erase(identity);
    if (c->second.empty()) connections_of_.erase(c);
  }
  key_of_.erase(it);
}

std::vector<std::string> ClientQuotas::ConnectionsLike(const std::string& identity) const {
  auto it = key_of_.find(identity);
  if (it == key_of_.end()) return {identity};
  const auto& all = connections_of_.at(it->second);
  return {all.begin(), all.end()};
}

std::string ClientQuotas::ClientOf(const std::string& identity) const {
  auto it = key_of_.find(identity);
  return it == key_of_.end() ? "c" + identity : "k" + it->second;
}

Result<void> ClientQuotas::AdmitWait(const std::string& identity, uint64_t ids) {
  // A connection's WAITs stay with the client they were first admitted for.
  auto wc = wait_client_.find(identity);
  std::string client = wc != wait_client_.end() ? wc->second.first : ClientOf(identity);
  auto it = by_client_.find(client);
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
  Held& h = by_client_[client];
  auto& [held_for, count] = wait_client_[identity];
  held_for = client;
  ++count;
  ++h.waits;
  h.ids += ids;
  ++waits_;
  wait_ids_ += ids;
  return {};
}

void ClientQuotas::ReleaseWait(const std::string& identity, uint64_t ids) {
  auto wc = wait_client_.find(identity);
  if (wc == wait_client_.end()) return;
  std::string client = wc->second.first;
  if (--wc->second.second == 0) wait_client_.erase(wc);
  auto it = by_client_.find(client);
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
