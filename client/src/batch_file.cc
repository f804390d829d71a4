#include "taskmill/client/batch_file.h"

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "taskmill/shared/duration.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::client {
namespace {

using nlohmann::json;

std::unexpected<Error> Invalid(const std::string& path, const std::string& what) {
  return MakeError(ErrorCode::kInvalidArgument, path + ": " + what);
}

std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

const char* TypeName(const json& v) { return v.type_name(); }

Result<void> CheckKeys(const json& object, const std::string& path,
                       std::initializer_list<const char*> allowed) {
  if (!object.is_object()) {
    return Invalid(path.empty() ? "body" : path,
                   std::string("expected an object, got ") + TypeName(object));
  }
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (const char* a : allowed) known = known || key == a;
    if (!known) return Invalid(Join(path, key), "unknown key");
  }
  return {};
}

Result<std::string> GetString(const json& v, const std::string& path) {
  if (!v.is_string()) return Invalid(path, std::string("expected a string, got ") + TypeName(v));
  return v.get<std::string>();
}

// A whole number in [min, max]; 3.0 counts as 3.
Result<uint64_t> GetUint(const json& v, const std::string& path, uint64_t min, uint64_t max) {
  uint64_t value = 0;
  if (v.is_number_unsigned()) {
    value = v.get<uint64_t>();
  } else if (v.is_number_integer()) {
    return Invalid(path, "must not be negative");
  } else if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
             v.get<double>() >= 0 && v.get<double>() < 1.8e19) {
    value = static_cast<uint64_t>(v.get<double>());
  } else {
    return Invalid(path, std::string("expected a whole number, got ") + TypeName(v));
  }
  if (value < min || value > max) {
    return Invalid(path, std::to_string(value) + " is out of range (allowed: " +
                             std::to_string(min) + ".." + std::to_string(max) + ")");
  }
  return value;
}

Result<double> GetNumber(const json& v, const std::string& path) {
  if (!v.is_number()) return Invalid(path, std::string("expected a number, got ") + TypeName(v));
  double d = v.get<double>();
  if (!std::isfinite(d)) return Invalid(path, "must be a finite number");
  return d;
}

Result<protocol::Labels> GetLabels(const json& v, const std::string& path) {
  if (!v.is_object()) return Invalid(path, std::string("expected an object, got ") + TypeName(v));
  protocol::Labels labels;
  for (const auto& [key, value] : v.items()) {
    auto s = GetString(value, path + "." + key);
    if (!s) return std::unexpected(s.error());
    labels[key] = *s;
  }
  return labels;
}

Result<BackoffPolicy> GetBackoff(const json& v, const std::string& path) {
  if (auto r = CheckKeys(v, path, {"base_ms", "max_ms", "multiplier", "jitter"}); !r) {
    return std::unexpected(r.error());
  }
  BackoffPolicy b;
  if (v.contains("base_ms")) {
    auto n = GetUint(v["base_ms"], path + ".base_ms", 0, UINT32_MAX);
    if (!n) return std::unexpected(n.error());
    b.base_ms = static_cast<uint32_t>(*n);
  }
  if (v.contains("max_ms")) {
    auto n = GetUint(v["max_ms"], path + ".max_ms", 0, UINT32_MAX);
    if (!n) return std::unexpected(n.error());
    b.max_ms = static_cast<uint32_t>(*n);
  }
  if (v.contains("multiplier")) {
    auto d = GetNumber(v["multiplier"], path + ".multiplier");
    if (!d) return std::unexpected(d.error());
    b.multiplier = *d;
  }
  if (v.contains("jitter")) {
    if (!v["jitter"].is_boolean()) return Invalid(path + ".jitter", "expected true or false");
    b.jitter = v["jitter"].get<bool>();
  }
  return b;
}

Result<protocol::TaskSpec> ParseTask(const json& v, const std::string& path) {
  if (auto r =
          CheckKeys(v, path,
                    {"name", "type", "queue", "payload", "priority", "max_attempts", "backoff",
                     "timeout_ms", "depends_on", "labels", "idempotency_key", "not_before_ms",
                     "delay", "expires_in"});
      !r) {
    return std::unexpected(r.error());
  }
  protocol::TaskSpec spec;
  for (const char* required : {"name", "type"}) {
    if (!v.contains(required)) return Invalid(path, std::string("missing '") + required + "'");
  }
  auto name = GetString(v["name"], path + ".name");
  if (!name) return std::unexpected(name.error());
  spec.name = *name;
  auto type = GetString(v["type"], path + ".type");
  if (!type) return std::unexpected(type.error());
  spec.type = *type;
  if (v.contains("queue")) {
    auto q = GetString(v["queue"], path + ".queue");
    if (!q) return std::unexpected(q.error());
    spec.queue = *q;
  }
  if (v.contains("payload")) {
    const json& p = v["payload"];
    if (p.is_string()) {
      spec.payload = p.get<std::string>();
    } else if (p.is_object() || p.is_array()) {
      spec.payload = p.dump();
    } else {
      return Invalid(path + ".payload",
                     std::string("expected an object, array or string, got ") + TypeName(p));
    }
  }
  struct UintField {
    const char* key;
    uint64_t min, max;
    std::function<void(uint64_t)> set;
  };
  UintField fields[] = {
      {"priority", 0, 255, [&](uint64_t n) { spec.priority = static_cast<uint8_t>(n); }},
      {"max_attempts", 1, 1000, [&](uint64_t n) { spec.max_attempts = static_cast<uint32_t>(n); }},
      {"timeout_ms", 0, UINT32_MAX,
       [&](uint64_t n) { spec.timeout_ms = static_cast<uint32_t>(n); }},
      {"not_before_ms", 0, INT64_MAX,
       [&](uint64_t n) { spec.not_before_ms = static_cast<int64_t>(n); }},
  };
  for (auto& f : fields) {
    if (!v.contains(f.key)) continue;
    auto n = GetUint(v[f.key], path + "." + f.key, f.min, f.max);
    if (!n) return std::unexpected(n.error());
    f.set(*n);
  }
  // Issue 22: durations as the CLI's flags write them ("10s", "5m"; duration.h).
  struct DurationField {
    const char* key;
    uint64_t max;
    uint64_t* out;
  };
  for (auto f : {DurationField{"delay", protocol::kMaxDelayMs, &spec.delay_ms},
                 DurationField{"expires_in", protocol::kMaxExpiresInMs, &spec.expires_in_ms}}) {
    if (!v.contains(f.key)) continue;
    std::string where = path + "." + f.key;
    auto text = GetString(v[f.key], where);
    if (!text) return std::unexpected(text.error());
    auto ms = ParseDurationMs(*text, where);
    if (!ms) return std::unexpected(ms.error());
    if (*ms > f.max) {
      return Invalid(where, "'" + *text + "' is too long (allowed: up to " +
                                FormatDurationMs(f.max) + ")");
    }
    *f.out = *ms;
  }
  if (v.contains("backoff")) {
    auto b = GetBackoff(v["backoff"], path + ".backoff");
    if (!b) return std::unexpected(b.error());
    spec.backoff = *b;
  }
  if (v.contains("depends_on")) {
    const json& deps = v["depends_on"];
    if (!deps.is_array()) {
      return Invalid(path + ".depends_on",
                     std::string("expected an array of task names, got ") + TypeName(deps));
    }
    for (size_t i = 0; i < deps.size(); ++i) {
      auto d = GetString(deps[i], path + ".depends_on[" + std::to_string(i) + "]");
      if (!d) return std::unexpected(d.error());
      spec.depends_on.push_back(*d);
    }
  }
  if (v.contains("labels")) {
    auto l = GetLabels(v["labels"], path + ".labels");
    if (!l) return std::unexpected(l.error());
    spec.labels = *l;
  }
  if (v.contains("idempotency_key")) {
    auto k = GetString(v["idempotency_key"], path + ".idempotency_key");
    if (!k) return std::unexpected(k.error());
    spec.idempotency_key = *k;
  }
  return spec;
}

// Depth-first search for a cycle; returns its path ("a -> b -> a") or "".
std::string FindCycle(const protocol::BatchSpec& batch) {
  std::map<std::string, const protocol::TaskSpec*> by_name;
  for (const auto& t : batch.tasks) by_name[t.name] = &t;
  std::map<std::string, int> color;  // 0 unvisited, 1 on the stack, 2 done
  std::vector<std::string> stack;
  std::function<std::string(const std::string&)> visit = [&](const std::string& name) {
    color[name] = 1;
    stack.push_back(name);
    for (const auto& dep : by_name[name]->depends_on) {
      if (!by_name.count(dep)) continue;
      if (color[dep] == 1) {
        std::string path;
        auto it = std::find(stack.begin(), stack.end(), dep);
        for (; it != stack.end(); ++it) path += *it + " -> ";
        return path + dep;
      }
      if (color[dep] == 0) {
        if (auto found = visit(dep); !found.empty()) return found;
      }
    }
    stack.pop_back();
    color[name] = 2;
    return std::string();
  };
  for (const auto& t : batch.tasks) {
    if (color[t.name] == 0) {
      if (auto found = visit(t.name); !found.empty()) return found;
    }
  }
  return "";
}

}  // namespace

Result<void> ValidateBatchSpec(const protocol::BatchSpec& batch) {
  if (!batch.id.empty()) {
    if (auto r = protocol::ValidateName(batch.id, "id"); !r) return r;
  }
  if (batch.tasks.empty()) return Invalid("tasks", "a batch needs at least one task");
  if (auto r = protocol::ValidateOnFailure(batch.on_failure, "on_failure"); !r) return r;
  if (auto r = protocol::ValidateBatchAppend(batch, "batch"); !r) return r;
  // The broker's words (it checks them before copying the labels into every task).
  if (auto r = protocol::ValidateLabels(batch.labels, "batch.labels",
                                        protocol::SpecLimits{}.max_labels,
                                        protocol::kMaxLabelBytesCeiling);
      !r) {
    return r;
  }
  std::map<std::string, size_t> names;
  for (size_t i = 0; i < batch.tasks.size(); ++i) {
    const auto& t = batch.tasks[i];
    std::string path = "tasks[" + std::to_string(i) + "]";
    if (t.name.empty()) return Invalid(path + ".name", "every task of a batch needs a name");
    if (auto [it, fresh] = names.emplace(t.name, i); !fresh) {
      return Invalid(path + ".name", "'" + t.name + "' is also the name of tasks[" +
                                         std::to_string(it->second) + "]");
    }
    if (auto r = protocol::ValidateTaskSpec(t, path); !r) return r;
  }
  for (size_t i = 0; i < batch.tasks.size(); ++i) {
    const auto& deps = batch.tasks[i].depends_on;
    for (size_t j = 0; j < deps.size(); ++j) {
      std::string path = "tasks[" + std::to_string(i) + "].depends_on[" + std::to_string(j) + "]";
      if (deps[j] == batch.tasks[i].name) return Invalid(path, "a task cannot depend on itself");
      // Appending: a parent may be a task already in the batch (the broker knows them).
      if (!names.count(deps[j]) && batch.append_to.empty()) {
        return Invalid(path, "unknown task '" + deps[j] + "'");
      }
    }
  }
  if (auto cycle = FindCycle(batch); !cycle.empty()) {
    return MakeError(ErrorCode::kCycle, "tasks: dependency cycle " + cycle);
  }
  for (const auto& [name, limit] : batch.budget) {
    if (!std::isfinite(limit) || limit < 0) {
      return Invalid("budget." + name, "must be a finite number, not negative");
    }
  }
  if (batch.finally) {
    if (auto r = protocol::ValidateFinally(*batch.finally, "finally"); !r) return r;
  }
  return {};
}

Result<protocol::BatchSpec> ParseBatchFile(std::string_view json_text,
                                           const std::string& append_to) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 3, column 5: ..." -> the tail.
    std::string what = e.what();
    if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    return MakeError(ErrorCode::kInvalidArgument, "not valid JSON: " + what);
  }
  if (auto r = CheckKeys(doc, "", {"id", "budget", "labels", "tasks", "on_failure", "finally"});
      !r) {
    return std::unexpected(r.error());
  }
  protocol::BatchSpec batch;
  if (doc.contains("id")) {
    auto id = GetString(doc["id"], "id");
    if (!id) return std::unexpected(id.error());
    batch.id = *id;
  }
  if (doc.contains("budget")) {
    const json& b = doc["budget"];
    if (!b.is_object()) {
      return Invalid("budget",
                     std::string("expected an object of cost limits, got ") + TypeName(b));
    }
    for (const auto& [key, value] : b.items()) {
      auto d = GetNumber(value, "budget." + key);
      if (!d) return std::unexpected(d.error());
      batch.budget[key] = *d;
    }
  }
  if (doc.contains("on_failure")) {
    auto p = GetString(doc["on_failure"], "on_failure");
    if (!p) return std::unexpected(p.error());
    batch.on_failure = *p;
  }
  if (doc.contains("finally")) {
    // A task object as in "tasks", whose name may be left out (it defaults to "finally").
    json f = doc["finally"];
    if (!f.is_object()) {
      return Invalid("finally", std::string("expected a task object, got ") + TypeName(f));
    }
    if (!f.contains("name")) f["name"] = "finally";
    auto spec = ParseTask(f, "finally");
    if (!spec) return std::unexpected(spec.error());
    batch.finally = std::move(*spec);
  }
  if (doc.contains("labels")) {
    auto l = GetLabels(doc["labels"], "labels");
    if (!l) return std::unexpected(l.error());
    batch.labels = *l;
  }
  if (!doc.contains("tasks")) return Invalid("body", "missing 'tasks'");
  const json& tasks = doc["tasks"];
  if (!tasks.is_array()) {
    return Invalid("tasks", std::string("expected an array, got ") + TypeName(tasks));
  }
  for (size_t i = 0; i < tasks.size(); ++i) {
    auto spec = ParseTask(tasks[i], "tasks[" + std::to_string(i) + "]");
    if (!spec) return std::unexpected(spec.error());
    batch.tasks.push_back(std::move(*spec));
  }
  batch.append_to = append_to;
  if (auto r = ValidateBatchSpec(batch); !r) return std::unexpected(r.error());
  return batch;
}

Result<protocol::BatchSpec> LoadBatchFile(const std::string& path, const std::string& append_to) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(ErrorCode::kNotFound, path + ": cannot read the file");
  std::ostringstream text;
  text << in.rdbuf();
  auto batch = ParseBatchFile(text.str(), append_to);
  if (!batch) return MakeError(batch.error().code, path + ": " + batch.error().message);
  return batch;
}

}  // namespace taskmill::client
