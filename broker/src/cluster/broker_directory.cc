#include "cluster/broker_directory.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "taskmill/shared/log.h"

namespace taskmill::broker {
namespace {

using nlohmann::json;

std::shared_ptr<spdlog::logger> Log() { return Logger("broker.directory"); }

std::string Text(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

uint64_t Number(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

std::vector<std::string> Texts(const json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

std::string EncodeBrokerEntry(const BrokerEntry& e) {
  json workers = json::array();
  for (const auto& w : e.workers) {
    json labels = json::object();
    size_t bytes = 0;
    for (const auto& [k, v] : w.labels) bytes += k.size() + v.size();
    if (bytes <= BrokerDirectory::kMaxLabelBytes) {
      for (const auto& [k, v] : w.labels) labels[k] = v;
    }
    json entry = {{"id", w.id},
                  {"queues", w.queues},
                  {"types", w.types},
                  {"concurrency", w.concurrency},
                  {"in_flight", w.in_flight},
                  {"labels", std::move(labels)}};
    if (w.quiet) entry["quiet"] = true;  // absent: not quiet (and from older brokers)
    workers.push_back(std::move(entry));
  }
  json j = {{"id", e.id},           {"frontend", e.frontend}, {"backend", e.backend},
            {"http", e.http},       {"started_ms", e.started_ms}, {"health", e.health},
            {"workers", std::move(workers)}};
  // Worker ids and labels are validated UTF-8-agnostic bytes: replace what is not UTF-8.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<BrokerEntry> DecodeBrokerEntry(std::string_view text) {
  if (text.size() > BrokerDirectory::kMaxEntryBytes) {
    return MakeError(ErrorCode::kInvalidArgument, "broker entry too large");
  }
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return MakeError(ErrorCode::kInvalidArgument, "broker entry is not a JSON object");
  }
  BrokerEntry e;
  e.id = Text(j, "id");
  if (e.id.empty()) return MakeError(ErrorCode::kInvalidArgument, "broker entry without an id");
  e.frontend = Text(j, "frontend");
  e.backend = Text(j, "backend");
  e.http = Text(j, "http");
  e.health = Text(j, "health");
  e.started_ms = static_cast<int64_t>(Number(j, "started_ms"));
  if (auto it = j.find("workers"); it != j.end() && it->is_array()) {
    for (const auto& w : *it) {
      if (!w.is_object()) continue;
      protocol::WorkerInfo info;
      info.id = Text(w, "id");
      if (info.id.empty()) continue;
      info.queues = Texts(w, "queues");
      info.types = Texts(w, "types");
      info.concurrency = static_cast<uint32_t>(std::min<uint64_t>(Number(w, "concurrency"), UINT32_MAX));
      info.in_flight = static_cast<uint32_t>(std::min<uint64_t>(Number(w, "in_flight"), UINT32_MAX));
      if (auto l = w.find("labels"); l != w.end() && l->is_object()) {
        for (const auto& [k, v] : l->items()) {
          if (v.is_string()) info.labels[k] = v.get<std::string>();
        }
      }
      if (auto q = w.find("quiet"); q != w.end() && q->is_boolean()) info.quiet = q->get<bool>();
      info.broker = e.id;
      e.workers.push_back(std::move(info));
    }
  }
  return e;
}

BrokerDirectory::BrokerDirectory(std::string id, const std::string& prefix,
                                 RedisConnection& redis)
    : id_(std::move(id)), prefix_(prefix), set_key_(prefix + "brokers"), redis_(redis) {}

void BrokerDirectory::Refresh(BrokerEntry self) {
  self.id = id_;
  for (auto& w : self.workers) w.broker = id_;
  // The entry first, then the set: a reader that sees the id finds the entry.
  redis_.Command({"SET", Key(id_), EncodeBrokerEntry(self), "PX", std::to_string(kTtlMs)},
                 [](Result<const redisReply*>) {});
  redis_.Command({"SADD", set_key_, id_}, [](Result<const redisReply*>) {});
  if (!reading_) ReadAll();
}

void BrokerDirectory::Leave() {
  redis_.Command({"DEL", Key(id_)}, [](Result<const redisReply*>) {});
  redis_.Command({"SREM", set_key_, id_}, [](Result<const redisReply*>) {});
}

void BrokerDirectory::ReadAll() {
  reading_ = true;
  redis_.Command({"SMEMBERS", set_key_}, [this](Result<const redisReply*> r) {
    if (!r || (*r)->type != REDIS_REPLY_ARRAY) {
      reading_ = false;
      return;
    }
    std::vector<std::string> ids;
    for (size_t i = 0; i < (*r)->elements && ids.size() < kMaxBrokers; ++i) {
      const redisReply* e = (*r)->element[i];
      if (e->type == REDIS_REPLY_STRING) ids.emplace_back(e->str, e->len);
    }
    if (ids.empty()) {
      reading_ = false;
      return;
    }
    std::vector<std::string> mget{"MGET"};
    for (const auto& id : ids) mget.push_back(Key(id));
    redis_.Command(mget, [this, ids](Result<const redisReply*> values) {
      reading_ = false;
      if (!values || (*values)->type != REDIS_REPLY_ARRAY) return;
      std::vector<BrokerEntry> live;
      std::vector<std::string> gone;
      for (size_t i = 0; i < ids.size() && i < (*values)->elements; ++i) {
        const redisReply* v = (*values)->element[i];
        if (v->type != REDIS_REPLY_STRING) {
          gone.push_back(ids[i]);  // its entry expired: the broker is gone
          continue;
        }
        auto entry = DecodeBrokerEntry(std::string_view(v->str, v->len));
        if (!entry || entry->id != ids[i]) {
          Log()->debug("registry: entry of {} refused", ids[i]);
          continue;
        }
        live.push_back(std::move(*entry));
      }
      if (!gone.empty()) {
        std::vector<std::string> srem{"SREM", set_key_};
        srem.insert(srem.end(), gone.begin(), gone.end());
        redis_.Command(srem, [](Result<const redisReply*>) {});
      }
      std::sort(live.begin(), live.end(),
                [](const BrokerEntry& a, const BrokerEntry& b) { return a.id < b.id; });
      std::unordered_set<std::string> ids_now;
      for (const auto& e : live) ids_now.insert(e.id);
      live_ = std::move(live);
      if (ids_now != live_ids_) {
        live_ids_ = std::move(ids_now);
        if (on_live_changed_) on_live_changed_(live_ids_);
      }
    });
  });
}

std::vector<protocol::WorkerInfo> BrokerDirectory::OtherWorkers() const {
  std::vector<protocol::WorkerInfo> out;
  for (const auto& e : live_) {
    if (e.id == id_) continue;
    out.insert(out.end(), e.workers.begin(), e.workers.end());
  }
  std::sort(out.begin(), out.end(),
            [](const protocol::WorkerInfo& a, const protocol::WorkerInfo& b) { return a.id < b.id; });
  return out;
}

}  // namespace taskmill::broker
