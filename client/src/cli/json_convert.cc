#include "cli/json_convert.h"

namespace taskmill::client::cli {

using nlohmann::json;

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                 static_cast<uint8_t>(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t n = static_cast<uint8_t>(in[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t n = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

void PutBytes(json& object, const std::string& key, std::string_view bytes) {
  if (IsValidUtf8(bytes)) {
    object[key] = std::string(bytes);
  } else {
    object[key + "_b64"] = Base64(bytes);
  }
}

json ToJson(const protocol::CostMap& cost) {
  json out = json::object();
  for (const auto& [name, value] : cost) out[name] = value;
  return out;
}

json ToJson(const Error& error) {
  return json{{"code", std::string(ErrorCodeName(error.code))}, {"message", error.message}};
}

json ToJson(const protocol::TaskError& error) {
  return json{{"code", error.code}, {"message", error.message}, {"retryable", error.retryable}};
}

json ToJson(const protocol::TaskInfo& t) {
  json out = json::object();
  out["id"] = t.id;
  out["queue"] = t.queue;
  out["type"] = t.type;
  out["batch_id"] = t.batch_id;
  out["name"] = t.name;
  out["state"] = protocol::TaskStateName(t.state);
  out["priority"] = t.priority;
  out["attempts"] = t.attempts;
  out["max_attempts"] = t.max_attempts;
  PutBytes(out, "output", t.output);
  out["error"] = t.error ? ToJson(*t.error) : json(nullptr);
  out["exit_code"] = t.exit_code ? json(*t.exit_code) : json(nullptr);
  PutBytes(out, "stdout", t.stdout_data);
  PutBytes(out, "stderr", t.stderr_data);
  out["duration_ms"] = t.duration_ms;
  out["cost"] = ToJson(t.cost);
  out["worker"] = t.worker;
  out["created_ms"] = t.created_ms;
  out["started_ms"] = t.started_ms;
  out["finished_ms"] = t.finished_ms;
  json history = json::array();
  for (const auto& e : t.history) history.push_back(ToJson(e));
  out["history"] = std::move(history);
  if (!t.artifacts.empty()) out["artifacts"] = ToJson(t.artifacts);  // absent: none
  out["progress"] = t.progress;
  out["progress_message"] = t.progress_message;
  if (t.ready_at_ms != 0) out["ready_at_ms"] = t.ready_at_ms;  // a delayed task; absent: none
  return out;
}

json ToJson(const std::vector<protocol::Artifact>& artifacts) {
  json list = json::array();
  for (const auto& a : artifacts) {
    list.push_back(json{{"name", a.name},
                        {"size", a.size},
                        {"sha256", a.sha256},
                        {"uri", a.uri},
                        {"inline", a.uri.empty()}});
  }
  return list;
}

json ToJson(const protocol::BatchStatus& b) {
  json out = json::object();
  out["id"] = b.id;
  out["state"] = b.state;
  out["total"] = b.total;
  json counts = json::object();
  for (const auto& [state, n] : b.counts) counts[state] = n;
  out["counts"] = std::move(counts);
  out["cost"] = ToJson(b.cost);
  out["budget"] = ToJson(b.budget);
  out["budget_exceeded"] = b.budget_exceeded;
  json tasks = json::object();
  for (const auto& [name, id] : b.tasks) tasks[name] = id;
  out["tasks"] = std::move(tasks);
  out["created_ms"] = b.created_ms;
  out["finished_ms"] = b.finished_ms;
  out["critical_path_ms"] = b.critical_path_ms;
  out["on_failure"] = b.on_failure;
  if (!b.finally_id.empty()) {
    out["finally_id"] = b.finally_id;
    out["finally_state"] = b.finally_state;
  }
  return out;
}

json ToJson(const protocol::QueueStats& q) {
  json by_type = json::object();
  for (const auto& [type, ready] : q.ready_by_type) by_type[type] = ready;
  return json{{"queue", q.queue},         {"ready", q.ready},
              {"delayed", q.delayed},     {"running", q.running},
              {"dead", q.dead},           {"submitted", q.submitted},
              {"succeeded", q.succeeded}, {"failed", q.failed},
              {"retried", q.retried},     {"cancelled", q.cancelled},
              {"cost", ToJson(q.cost)},   {"ready_by_type", std::move(by_type)},
              {"more_types", q.more_types},
              {"limit", q.limit},
              {"limit_running", q.limit_running},
              {"throttled", q.throttled},
              {"paused", q.paused},
              {"expired", q.expired}};
}

json ToJson(const protocol::WorkerInfo& w) {
  json labels = json::object();
  for (const auto& [k, v] : w.labels) labels[k] = v;
  return json{{"id", w.id},
              {"queues", w.queues},
              {"types", w.types},
              {"concurrency", w.concurrency},
              {"in_flight", w.in_flight},
              {"labels", std::move(labels)},
              {"broker", w.broker},
              {"quiet", w.quiet}};
}

json ToJson(const protocol::Event& e) {
  json out = json::object();
  out["batch_id"] = e.batch_id;
  out["type"] = e.type;
  out["task_id"] = e.task_id;
  out["task_name"] = e.task_name;
  out["state"] = e.state;
  out["done"] = e.done;
  out["total"] = e.total;
  out["progress"] = e.progress;
  out["message"] = e.message;
  out["error"] = e.error ? ToJson(*e.error) : json(nullptr);
  out["cost"] = ToJson(e.cost);
  out["ts_ms"] = e.ts_ms;
  return out;
}

json ToJson(const StatsReply& stats) {
  json queues = json::array();
  for (const auto& q : stats.queues) queues.push_back(ToJson(q));
  json workers = json::array();
  for (const auto& w : stats.workers) workers.push_back(ToJson(w));
  const auto& b = stats.broker;
  json broker{{"workers", b.workers},
              {"queues", b.queues},
              {"bad_frames", b.bad_frames},
              {"stale_results", b.stale_results},
              {"tasks_dispatched", b.tasks_dispatched},
              {"workers_lost", b.workers_lost},
              {"waits", b.waits},
              {"wait_ids", b.wait_ids},
              {"subscriptions", b.subscriptions},
              {"quota_refusals", b.quota_refusals},
              {"peers_dropped", b.peers_dropped},
              {"queued_bytes", b.queued_bytes},
              {"replies_dropped", b.replies_dropped},
              {"clients_cut", b.clients_cut},
              {"warnings", b.warnings},
              {"broker_id", b.broker_id},
              {"brokers", b.brokers}};
  return json{{"queues", std::move(queues)},
              {"workers", std::move(workers)},
              {"broker", std::move(broker)}};
}

std::string Dump(const json& doc) {
  return doc.dump(2, ' ', false, json::error_handler_t::replace);
}

}  // namespace taskmill::client::cli
