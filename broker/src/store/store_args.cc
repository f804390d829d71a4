#include <charconv>

#include "store/store_wire.h"

namespace taskmill::broker::wire {

std::string Num(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : std::string("0");
}

std::vector<std::string> PreludeArgs(const StoreOptions& options, int64_t now_ms, double jitter) {
  return {options.prefix,
          std::to_string(now_ms),
          std::to_string(options.retention_ms),
          options.max_finished_per_queue == 0
              ? std::to_string(options.dead_letter_max)
              : std::to_string(options.dead_letter_max) + "," +
                    std::to_string(options.max_finished_per_queue),
          Num(jitter),
          std::to_string(options.idempotency_ttl_ms),
          std::to_string(options.lease_grace_ms)};
}

void AppendSpec(std::vector<std::string>& a, const protocol::TaskSpec& s,
                const std::string& owner) {
  a.push_back(s.id);
  a.push_back(s.queue);
  a.push_back(s.type);
  a.push_back(s.name);
  a.push_back(s.payload);
  a.push_back(std::to_string(s.priority));
  a.push_back(std::to_string(s.max_attempts));
  a.push_back(std::to_string(s.backoff.base_ms));
  a.push_back(std::to_string(s.backoff.max_ms));
  a.push_back(Num(s.backoff.multiplier));
  a.push_back(s.backoff.jitter ? "1" : "0");
  a.push_back(std::to_string(s.timeout_ms));
  a.push_back(s.idempotency_key);
  a.push_back(std::to_string(s.not_before_ms));
  a.push_back(owner);
  a.push_back(std::to_string(s.labels.size()));
  for (const auto& [k, v] : s.labels) {
    a.push_back(k);
    a.push_back(v);
  }
  a.push_back(std::to_string(s.depends_on.size()));
  for (const auto& d : s.depends_on) a.push_back(d);
}

void AppendDone(std::vector<std::string>& a, const protocol::Done& d) {
  a.push_back(d.task_id);
  a.push_back(std::to_string(d.token));
  a.push_back(d.ok ? "1" : "0");
  a.push_back(d.output);
  a.push_back(d.exit_code ? std::to_string(*d.exit_code) : "");
  a.push_back(d.stdout_data);
  a.push_back(d.stderr_data);
  a.push_back(std::to_string(d.duration_ms));
  if (d.error) {
    a.push_back(d.error->code.empty() ? "error" : d.error->code);
    a.push_back(d.error->message);
    a.push_back(d.error->retryable ? "1" : "0");
  } else {
    a.push_back(d.ok ? "" : "error");
    a.push_back(d.ok ? "" : "the worker reported a failure without an error");
    a.push_back("0");
  }
  a.push_back(std::to_string(d.cost.size()));
  for (const auto& [k, v] : d.cost) {
    a.push_back(k);
    a.push_back(Num(v));
  }
}

}  // namespace taskmill::broker::wire
