#include "dispatch/held_results.h"

namespace taskmill::broker {

uint64_t HeldResults::SizeOf(const protocol::Done& d) {
  uint64_t artifacts = 0;
  for (const auto& a : d.artifacts) artifacts += a.name.size() + a.uri.size() + a.data.size() + 80;
  return d.task_id.size() + d.output.size() + d.stdout_data.size() + d.stderr_data.size() +
         (d.error ? d.error->code.size() + d.error->message.size() : 0) + artifacts + 64;
}

bool HeldResults::Hold(const std::string& identity, protocol::Done done, int64_t now_ms) {
  uint64_t size = SizeOf(done);
  if (count_ >= kMaxHeld || bytes_ + size > kMaxHeldBytes) return false;
  auto [it, fresh] = by_identity_.try_emplace(identity);
  if (fresh) it->second.since_ms = now_ms;
  it->second.bytes += size;
  it->second.dones.push_back(std::move(done));
  ++count_;
  bytes_ += size;
  return true;
}

std::vector<protocol::Done> HeldResults::Take(const std::string& identity) {
  auto it = by_identity_.find(identity);
  if (it == by_identity_.end()) return {};
  std::vector<protocol::Done> out = std::move(it->second.dones);
  count_ -= out.size();
  bytes_ -= it->second.bytes;
  by_identity_.erase(it);
  return out;
}

size_t HeldResults::Expire(int64_t now_ms, int64_t hold_ms) {
  size_t dropped = 0;
  for (auto it = by_identity_.begin(); it != by_identity_.end();) {
    if (now_ms - it->second.since_ms < hold_ms) {
      ++it;
      continue;
    }
    dropped += it->second.dones.size();
    count_ -= it->second.dones.size();
    bytes_ -= it->second.bytes;
    it = by_identity_.erase(it);
  }
  return dropped;
}

}  // namespace taskmill::broker
