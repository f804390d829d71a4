#include "http/broker_api.h"

#include <algorithm>
#include <charconv>
#include <map>

#include "http/api_json.h"
#include "store/store_wire.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::broker {
namespace {

using nlohmann::json;

HttpResponse JsonAnswer(int status, const json& j) {
  return {status, "application/json", api::Dump(j), {{"Cache-Control", "no-store"}}};
}

// A query number in [0, max]; `fallback` when absent; nullopt when malformed or too big.
std::optional<uint32_t> Number(const HttpRequest& r, std::string_view name, uint32_t fallback,
                               uint32_t max) {
  auto text = r.Query(name);
  if (!text) return r.query.find(std::string(name) + "=") == std::string::npos
                        ? std::optional<uint32_t>(fallback)
                        : std::nullopt;
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (text->empty() || ec != std::errc() || end != text->data() + text->size() || v > max) {
    return std::nullopt;
  }
  return v;
}

json QueueJson(const QueueCounters& c) {
  const auto& s = c.stats;
  return {{"queue", s.queue},         {"ready", s.ready},         {"delayed", s.delayed},
          {"blocked", c.blocked},     {"running", s.running},     {"awaiting", c.awaiting},
          {"dead", s.dead},
          {"submitted", s.submitted}, {"succeeded", s.succeeded}, {"failed", s.failed},
          {"retried", s.retried},     {"cancelled", s.cancelled}, {"stale", c.stale},
          {"cost", s.cost},           {"ready_by_type", s.ready_by_type},
          {"more_types", s.more_types}, {"limit", s.limit},
          {"limit_running", s.limit_running}, {"throttled", s.throttled},
          {"paused", s.paused},
          {"expired", s.expired}};
}

}  // namespace

BrokerApi::BrokerApi(const ReactorBoard& board, StoreReader& reader, BrokerMetrics& metrics,
                     HttpTokens tokens, const Clock& clock, CompleteFn complete)
    : board_(board), reader_(reader), metrics_(metrics), tokens_(std::move(tokens)),
      clock_(clock), complete_(std::move(complete)) {}

void BrokerApi::AddRoutes(HttpServer& server) {
  auto get = [&](const char* path, HttpResponse (BrokerApi::*h)(const HttpRequest&)) {
    server.Route(path, {"GET"}, [this, h](const HttpRequest& r) { return (this->*h)(r); });
  };
  auto post = [&](const char* path, HttpResponse (BrokerApi::*h)(const HttpRequest&)) {
    server.Route(path, {"POST"}, [this, h](const HttpRequest& r) { return (this->*h)(r); });
  };
  get("/api/access", &BrokerApi::Access);
  get("/api/overview", &BrokerApi::Overview);
  get("/api/workers", &BrokerApi::Workers);
  get("/api/batches", &BrokerApi::Batches);
  get("/api/batch", &BrokerApi::Batch);
  get("/api/task", &BrokerApi::Task);
  get("/api/dead", &BrokerApi::DeadLetters);
  get("/api/schedules", &BrokerApi::Schedules);
  get("/api/tasks", &BrokerApi::ListTasks);
  get("/api/batches/all", &BrokerApi::AllBatches);
  post("/api/update", &BrokerApi::UpdateTask);
  post("/api/dead/retry", &BrokerApi::DeadRetry);
  post("/api/dead/purge", &BrokerApi::DeadPurge);
  post("/api/cancel", &BrokerApi::Cancel);
  post("/api/tasks/*", &BrokerApi::Complete);
}

HttpResponse BrokerApi::Refuse(int status, const std::string& reason,
                               const std::string& message) {
  metrics_.HttpRefused(reason);
  HttpResponse r = JsonAnswer(status, {{"error", message}});
  if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

std::optional<HttpResponse> BrokerApi::Guard(const HttpRequest& r, ApiNeed need) {
  if (auto refusal = CheckAccess(tokens_, r, need)) {
    return Refuse(refusal->status, refusal->reason, refusal->message);
  }
  return std::nullopt;
}

HttpResponse BrokerApi::Access(const HttpRequest& r) {
  const char* as[] = {"none", "wrong", "read", "admin"};
  return JsonAnswer(200, {{"reads_need_token", ReadsNeedToken(tokens_)},
                          {"admin_enabled", !tokens_.admin.empty()},
                          {"token", as[static_cast<int>(Identify(tokens_, r))]}});
}

ReactorSnapshot BrokerApi::Detail() {
  board_.WantDetail(clock_.MonotonicMs() + kDetailWantedMs);
  return board_.ReadDetail(std::chrono::milliseconds(kDetailWaitMs));
}

void BrokerApi::Sample(const std::vector<QueueCounters>& queues) {
  ThroughputSample s;
  s.at_ms = clock_.NowMs();
  for (const auto& q : queues) {
    s.submitted += q.stats.submitted;
    s.succeeded += q.stats.succeeded;
    s.failed += q.stats.failed;
    s.ready += q.stats.ready;
    s.running += q.stats.running;
    s.dead += q.stats.dead;
  }
  history_.Add(s);
}

HttpResponse BrokerApi::Overview(const HttpRequest& r) {
  auto limit = Number(r, "limit", 100, kApiMaxPage);
  auto after = r.Query("after").value_or("");
  if (!limit || after.size() > protocol::kMaxNameLength) {
    return Refuse(400, "bad_input", "limit: 0 to 500; after: a queue name");
  }
  auto queues = reader_.QueueFigures();
  if (!queues) return JsonAnswer(503, {{"error", queues.error().message}});
  Sample(*queues);
  ReactorSnapshot s = board_.Read();
  json page = json::array();
  json totals = {{"ready", 0},     {"delayed", 0},   {"blocked", 0},   {"running", 0},
                 {"awaiting", 0},  {"dead", 0},      {"submitted", 0}, {"succeeded", 0},
                 {"failed", 0},    {"retried", 0},   {"cancelled", 0}};
  json cost = json::object();
  std::string next;
  for (const auto& q : *queues) {
    json j = QueueJson(q);
    for (auto& [k, v] : totals.items()) v = v.get<uint64_t>() + j[k].get<uint64_t>();
    for (const auto& [name, value] : q.stats.cost) cost[name] = cost.value(name, 0.0) + value;
    if (q.stats.queue <= after) continue;
    if (page.size() >= *limit) {
      if (next.empty()) next = page.back()["queue"];
      continue;
    }
    page.push_back(std::move(j));
  }
  totals["cost"] = std::move(cost);
  json history = json::array();
  for (const auto& h : history_.Samples()) {
    history.push_back({{"at_ms", h.at_ms},         {"submitted", h.submitted},
                       {"succeeded", h.succeeded}, {"failed", h.failed},
                       {"ready", h.ready},         {"running", h.running},
                       {"dead", h.dead}});
  }
  return JsonAnswer(200, {{"broker", metrics_.broker()},
                          {"now_ms", clock_.NowMs()},
                          {"redis_ready", s.redis_ready},
                          {"draining", s.draining},
                          {"broker_id", s.broker_id},
                          {"brokers", s.live_brokers},
                          {"workers", s.workers},
                          {"slots_busy", s.slots_busy},
                          {"slots_free", s.slots_free},
                          {"queue_count", queues->size()},
                          {"queues", std::move(page)},
                          {"next_after", next},
                          {"totals", std::move(totals)},
                          {"history", std::move(history)}});
}

HttpResponse BrokerApi::Workers(const HttpRequest& r) {
  auto limit = Number(r, "limit", 100, kApiMaxPage);
  auto after = r.Query("after").value_or("");
  if (!limit || after.size() > 256) {
    return Refuse(400, "bad_input", "limit: 0 to 500; after: a worker id");
  }
  ReactorSnapshot s = Detail();
  int64_t now = clock_.MonotonicMs();
  // This broker's workers (live detail) and every other live broker's (the registry), by id.
  std::map<std::string, json> all;
  for (const auto& w : s.worker_views) {
    all[w.id] = {{"id", w.id},
                 {"broker", s.broker_id},
                 {"host", w.host},
                 {"queues", w.queues},
                 {"types", w.types},
                 {"slots", w.slots},
                 {"in_flight", w.in_flight},
                 {"draining", w.draining},
                 {"quiet", w.quiet},
                 {"last_heartbeat_ms_ago", std::max<int64_t>(0, now - w.last_seen_ms)}};
  }
  for (const auto& w : s.cluster_workers) {
    if (w.broker_id == s.broker_id || all.contains(w.id)) continue;
    all[w.id] = {{"id", w.id},         {"broker", w.broker_id},       {"host", w.host},
                 {"queues", w.queues}, {"types", w.types},            {"slots", w.concurrency},
                 {"in_flight", w.in_flight}, {"draining", false}, {"quiet", w.quiet},
                 {"last_heartbeat_ms_ago", nullptr}};
  }
  json page = json::array();
  std::string next;
  for (auto it = all.upper_bound(after); it != all.end(); ++it) {
    if (page.size() >= *limit) {
      next = page.back()["id"];
      break;
    }
    page.push_back(std::move(it->second));
  }
  return JsonAnswer(200, {{"workers", std::move(page)},
                          {"total", all.size()},
                          {"next_after", next},
                          {"broker_id", s.broker_id},
                          {"brokers", s.live_brokers}});
}

HttpResponse BrokerApi::Batches(const HttpRequest& r) {
  if (auto no = Guard(r, ApiNeed::kRead)) return *no;
  auto limit = Number(r, "limit", 20, kApiMaxBatches);
  auto offset = Number(r, "offset", 0, static_cast<uint32_t>(kMaxRecentBatches));
  if (!limit || !offset) return Refuse(400, "bad_input", "limit: 0 to 50; offset: 0 to 200");
  ReactorSnapshot s = Detail();
  json page = json::array();
  for (size_t i = *offset; i < s.recent_batches.size() && page.size() < *limit; ++i) {
    auto reply = reader_.Script("get_batch", wire::GetBatchArgs(s.recent_batches[i], "", "0", 1));
    if (!reply) return JsonAnswer(503, {{"error", reply.error().message}});
    auto b = api::ParseBatchRecord(reply->get());
    if (!b) return JsonAnswer(500, {{"error", b.error().message}});
    if (*b) page.push_back(api::BatchJson(**b));  // expired: left out
  }
  size_t next = *offset + *limit;
  return JsonAnswer(200, {{"batches", std::move(page)},
                          {"seen", s.recent_batches.size()},
                          {"next_offset", next < s.recent_batches.size() ? next : 0}});
}

HttpResponse BrokerApi::Batch(const HttpRequest& r) {
  if (auto no = Guard(r, ApiNeed::kRead)) return *no;
  auto id = r.Query("id").value_or("");
  auto cursor = r.Query("cursor").value_or("0");
  auto limit = Number(r, "limit", 200, kApiMaxPage);
  bool cursor_ok = !cursor.empty() && cursor.size() <= 20 &&
                   cursor.find_first_not_of("0123456789") == std::string::npos;
  if (auto ok = protocol::ValidateName(id, "id"); !ok) {
    return Refuse(400, "bad_input", ok.error().message);
  }
  if (!limit || *limit == 0 || !cursor_ok) {
    return Refuse(400, "bad_input", "limit: 1 to 500; cursor: a number");
  }
  auto reply = reader_.Script("get_batch", wire::GetBatchArgs(id, "", cursor, *limit));
  if (!reply) return JsonAnswer(503, {{"error", reply.error().message}});
  auto b = api::ParseBatchRecord(reply->get());
  if (!b) return JsonAnswer(500, {{"error", b.error().message}});
  if (!*b) return Refuse(404, "not_found", "no batch " + id);
  json j = api::BatchJson(**b);
  // The tasks are read 50 at a time (~1 ms of Redis each, as the broker's own WAIT reads),
  // so one page of 500 never holds Redis for ~10 ms in one go.
  std::vector<std::optional<api::TaskRecord>> records;
  const auto& names = (*b)->names;
  for (size_t from = 0; from < names.size(); from += kApiTasksPerRead) {
    size_t n = std::min(kApiTasksPerRead, names.size() - from);
    std::vector<std::string> ids;
    for (size_t i = from; i < from + n; ++i) ids.push_back(names[i].second);
    auto got = reader_.Script("get", wire::GetArgs("", ids));
    if (!got) return JsonAnswer(503, {{"error", got.error().message}});
    auto chunk = api::ParseTaskRecords(got->get());
    if (!chunk) return JsonAnswer(500, {{"error", chunk.error().message}});
    for (auto& t : *chunk) records.push_back(std::move(t));
  }
  json nodes = json::array();
  for (size_t i = 0; i < records.size() && i < names.size(); ++i) {
    json node = records[i] ? api::TaskSummaryJson(*records[i])
                           : json{{"id", names[i].second}, {"state", "expired"}};
    node["name"] = names[i].first;
    nodes.push_back(std::move(node));
  }
  j["tasks"] = std::move(nodes);
  j["next_cursor"] = (*b)->next;
  return JsonAnswer(200, j);
}

HttpResponse BrokerApi::Task(const HttpRequest& r) {
  if (auto no = Guard(r, ApiNeed::kRead)) return *no;
  auto id = r.Query("id").value_or("");
  if (auto ok = protocol::ValidateName(id, "id"); !ok) {
    return Refuse(400, "bad_input", ok.error().message);
  }
  auto reply = reader_.Script("get", wire::GetArgs("", {id}));
  if (!reply) return JsonAnswer(503, {{"error", reply.error().message}});
  auto tasks = api::ParseTaskRecords(reply->get());
  if (!tasks) return JsonAnswer(500, {{"error", tasks.error().message}});
  if (tasks->empty() || !(*tasks)[0]) return Refuse(404, "not_found", "no task " + id);
  return JsonAnswer(200, api::TaskJson(*(*tasks)[0]));
}

HttpResponse BrokerApi::DeadLetters(const HttpRequest& r) {
  if (auto no = Guard(r, ApiNeed::kRead)) return *no;
  auto queue = r.Query("queue").value_or("");
  auto limit = Number(r, "limit", 50, kApiMaxDeadLetters);
  auto offset = Number(r, "offset", 0, kApiMaxDeadOffset);
  if (!queue.empty()) {
    if (auto ok = protocol::ValidateName(queue, "queue"); !ok) {
      return Refuse(400, "bad_input", ok.error().message);
    }
  }
  if (!limit || *limit == 0 || !offset) {
    return Refuse(400, "bad_input", "limit: 1 to 200; offset: 0 to 1000");
  }
  uint32_t want = *offset + *limit + 1;  // one more: whether a next page exists
  auto reply = reader_.Script("dead_list", wire::DeadListArgs(queue, want));
  if (!reply) return JsonAnswer(503, {{"error", reply.error().message}});
  auto tasks = api::ParseTaskRecords(reply->get());
  if (!tasks) return JsonAnswer(500, {{"error", tasks.error().message}});
  json page = json::array();
  for (size_t i = *offset; i < tasks->size() && page.size() < *limit; ++i) {
    if ((*tasks)[i]) page.push_back(api::TaskSummaryJson(*(*tasks)[i]));
  }
  uint32_t next = *offset + *limit;
  bool more = tasks->size() > next && next <= kApiMaxDeadOffset;
  return JsonAnswer(200, {{"dead", std::move(page)}, {"next_offset", more ? next : 0}});
}

HttpResponse BrokerApi::Schedules(const HttpRequest& r) {
  if (auto no = Guard(r, ApiNeed::kRead)) return *no;
  auto reply = reader_.Script("schedule_list", wire::ScheduleListArgs({}, "", 1000));
  if (!reply) return JsonAnswer(503, {{"error", reply.error().message}});
  auto listing = wire::ParseScheduleListing(reply->get());
  if (!listing) return JsonAnswer(500, {{"error", listing.error().message}});
  json out = json::array();
  for (const auto& stored : listing->items) {
    const protocol::ScheduleInfo& s = stored.info;
    json j = {{"name", s.name},           {"cron", s.cron},
              {"tz", s.tz},               {"every_ms", s.every_ms},
              {"catch_up", s.catch_up},   {"queue", s.task.queue},
              {"type", s.task.type},      {"paused", s.paused},
              {"next_run_ms", s.next_run_ms}, {"last_run_ms", s.last_run_ms},
              {"last_task_id", s.last_task_id}, {"fired", s.fired},
              {"missed", s.missed}};
    out.push_back(std::move(j));
  }
  return JsonAnswer(200, {{"schedules", std::move(out)}, {"total", listing->total}});
}

namespace {

// {"ids": [...]} of 1 to kApiMaxIds valid ids; the message says what is wrong.
Result<std::vector<std::string>> BodyIds(const HttpRequest& r) {
  json body = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  auto bad = [](std::string why) { return MakeError(ErrorCode::kInvalidArgument, why); };
  if (body.is_discarded() || !body.is_object()) return bad("the body must be a JSON object");
  auto ids = body.find("ids");
  if (ids == body.end() || !ids->is_array() || ids->empty() || ids->size() > kApiMaxIds) {
    return bad("ids: an array of 1 to 100 task ids");
  }
  std::vector<std::string> out;
  for (const auto& id : *ids) {
    if (!id.is_string()) return bad("ids: task ids are strings");
    if (auto ok = protocol::ValidateName(id.get<std::string>(), "id"); !ok) {
      return std::unexpected(ok.error());
    }
    out.push_back(id.get<std::string>());
  }
  return out;
}

}  // namespace

HttpResponse BrokerApi::DeadAction(const HttpRequest& r, const char* script) {
  if (auto no = Guard(r, ApiNeed::kAdmin)) return *no;
  auto ids = BodyIds(r);
  if (!ids) return Refuse(400, "bad_input", ids.error().message);
  auto reply = reader_.Script(script, wire::DeadArgs("", static_cast<uint32_t>(ids->size()), *ids));
  if (!reply) return JsonAnswer(503, {{"error", reply.error().message}});
  bool retry = std::string_view(script) == "dead_retry";
  auto done = wire::ParseIds(reply->get());
  if (!done) return JsonAnswer(500, {{"error", done.error().message}});
  return JsonAnswer(200, {{retry ? "retried" : "purged", *done}});
}

HttpResponse BrokerApi::Cancel(const HttpRequest& r) {
  if (auto no = Guard(r, ApiNeed::kAdmin)) return *no;
  auto ids = BodyIds(r);
  if (!ids) return Refuse(400, "bad_input", ids.error().message);
  auto reply = reader_.Script("cancel", wire::CancelArgs("cancelled from the dashboard", "", *ids));
  if (!reply) return JsonAnswer(503, {{"error", reply.error().message}});
  auto result = wire::ParseCancel(reply->get());
  if (!result) return JsonAnswer(500, {{"error", result.error().message}});
  const char* names[] = {"cancelled", "cancel_requested", "finished", "not_found"};
  json items = json::array();
  for (const auto& item : result->items) {
    items.push_back({{"id", item.task_id}, {"status", names[static_cast<int>(item.status)]}});
  }
  return JsonAnswer(200, {{"items", std::move(items)}});
}

namespace {

// POST /api/tasks/ID/complete's body: {"token", "output" (a string), "cost" {name: amount},
// "error" {"code", "message", "retryable"}: present = the attempt failed}.
Result<protocol::Complete> CompletionBody(const HttpRequest& r) {
  auto bad = [](std::string why) { return MakeError(ErrorCode::kInvalidArgument, why); };
  constexpr std::string_view kPrefix = "/api/tasks/";
  constexpr std::string_view kSuffix = "/complete";
  std::string_view path = r.path;
  if (!path.starts_with(kPrefix) || !path.ends_with(kSuffix) ||
      path.size() <= kPrefix.size() + kSuffix.size()) {
    return bad("the path is /api/tasks/ID/complete");
  }
  protocol::Complete c;
  c.task_id = std::string(path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size()));
  json body = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) return bad("the body must be a JSON object");
  auto token = body.find("token");
  if (token == body.end() || !token->is_string()) return bad("token: the completion token");
  c.token = token->get<std::string>();
  if (auto out = body.find("output"); out != body.end()) {
    if (!out->is_string()) return bad("output: a string");
    c.output = out->get<std::string>();
  }
  if (auto cost = body.find("cost"); cost != body.end()) {
    if (!cost->is_object() || cost->size() > protocol::kMaxCostNames) {
      return bad("cost: an object of at most 64 names to amounts");
    }
    for (const auto& [name, amount] : cost->items()) {
      if (!amount.is_number()) return bad("cost: amounts are numbers");
      c.cost[name] = amount.get<double>();
    }
  }
  if (auto err = body.find("error"); err != body.end()) {
    if (!err->is_object()) return bad("error: {code, message, retryable}");
    protocol::TaskError e;
    auto code = err->find("code");
    if (code == err->end() || !code->is_string()) return bad("error.code: a string");
    e.code = code->get<std::string>();
    if (auto m = err->find("message"); m != err->end()) {
      if (!m->is_string()) return bad("error.message: a string");
      e.message = m->get<std::string>();
    }
    if (auto rt = err->find("retryable"); rt != err->end()) {
      if (!rt->is_boolean()) return bad("error.retryable: true or false");
      e.retryable = rt->get<bool>();
    }
    c.ok = false;
    c.error = std::move(e);
  }
  return c;
}

int CompletionStatus(ErrorCode code) {
  switch (code) {
    case ErrorCode::kStaleToken:
      return 403;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kInvalidArgument:
      return 400;
    default:
      return 503;
  }
}

}  // namespace

HttpResponse BrokerApi::Complete(const HttpRequest& r) {
  // No dashboard token: the completion token in the body is the credential (a webhook target
  // holds nothing else), 128 random bits that only its task's handler gave out.
  if (auto no = Guard(r, ApiNeed::kOpen)) return *no;
  auto c = CompletionBody(r);
  if (!c) return Refuse(400, "bad_input", c.error().message);
  if (!complete_) return JsonAnswer(503, {{"error", "this server completes no tasks"}});
  std::string task_id = c->task_id;
  auto outcome = complete_(std::move(*c));
  if (outcome) {
    if (auto verdict = CompletionVerdict(*outcome); !verdict) {
      outcome = std::unexpected(verdict.error());
    }
  }
  if (!outcome) {
    const Error& e = outcome.error();
    if (e.code == ErrorCode::kInvalidArgument) return Refuse(400, "bad_input", e.message);
    return JsonAnswer(CompletionStatus(e.code),
                      {{"error", e.message}, {"code", std::string(ErrorCodeName(e.code))}});
  }
  return JsonAnswer(200, {{"id", task_id}, {"status", FinishStatusName(outcome->status)}});
}

}  // namespace taskmill::broker

namespace taskmill::broker {
namespace {

nlohmann::json SummaryJson(const protocol::TaskInfo& t) {
  nlohmann::json j = {{"id", t.id},
                      {"queue", t.queue},
                      {"type", t.type},
                      {"name", t.name},
                      {"batch", t.batch_id},
                      {"state", protocol::TaskStateName(t.state)},
                      {"priority", t.priority},
                      {"attempts", t.attempts},
                      {"max_attempts", t.max_attempts},
                      {"created_ms", t.created_ms},
                      {"started_ms", t.started_ms},
                      {"finished_ms", t.finished_ms},
                      {"ready_at_ms", t.ready_at_ms}};
  if (t.error) j["error"] = {{"code", t.error->code}, {"message", t.error->message}};
  return j;
}

// The HTTP side's Redis connection reports a script's "TM_<CODE> message" as a store error
// with the text as it came ("redis: TM_NOT_FOUND no task X"): the error the script meant.
Error ScriptError(const Error& e) {
  constexpr std::string_view kPrefix = "redis: TM_";
  std::string_view m = e.message;
  if (!m.starts_with(kPrefix)) return e;
  m.remove_prefix(kPrefix.size());
  size_t space = m.find(' ');
  std::string code(m.substr(0, space));
  std::transform(code.begin(), code.end(), code.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return Error{ErrorCodeFromName(code),
               space == std::string_view::npos ? "" : std::string(m.substr(space + 1))};
}

}  // namespace

// GET /api/tasks?queue=&state=&type=&limit=&cursor=: one LIST page, the same checks and
// bounds as the LIST message (ValidateList, list.lua's scan bound).
HttpResponse BrokerApi::ListTasks(const HttpRequest& r) {
  if (auto no = Guard(r, ApiNeed::kRead)) return *no;
  protocol::List req;
  req.queue = r.Query("queue").value_or("");
  req.state = r.Query("state").value_or("");
  req.type = r.Query("type").value_or("");
  req.cursor = r.Query("cursor").value_or("");
  auto limit = Number(r, "limit", 50, protocol::kMaxListLimit);
  if (!limit) return Refuse(400, "bad_input", "limit: 1 to 1000");
  req.limit = *limit;
  if (auto ok = protocol::ValidateList(req); !ok) {
    return Refuse(400, "bad_input", ok.error().message);
  }
  auto reply = reader_.Script("list", wire::ListArgs(req, "", kApiListScanEntries));
  if (!reply) {
    Error e = ScriptError(reply.error());
    if (e.code == ErrorCode::kInvalidArgument) return Refuse(400, "bad_input", e.message);
    return JsonAnswer(503, {{"error", e.message}});
  }
  auto page = wire::ParseList(reply->get());
  if (!page) return JsonAnswer(500, {{"error", page.error().message}});
  json tasks = json::array();
  for (const auto& t : page->tasks) tasks.push_back(SummaryJson(t));
  return JsonAnswer(200, {{"tasks", std::move(tasks)}, {"next_cursor", page->next}});
}

// POST /api/update {"id", "op": "priority" | "promote", "priority"}: UPDATE with the admin
// token, as the other actions.
HttpResponse BrokerApi::UpdateTask(const HttpRequest& r) {
  if (auto no = Guard(r, ApiNeed::kAdmin)) return *no;
  json body = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return Refuse(400, "bad_input", "the body must be a JSON object");
  }
  protocol::Update u;
  auto id = body.find("id");
  auto op = body.find("op");
  if (id == body.end() || !id->is_string() || op == body.end() || !op->is_string()) {
    return Refuse(400, "bad_input", "id and op: strings (op priority or promote)");
  }
  u.id = id->get<std::string>();
  u.op = op->get<std::string>();
  if (auto p = body.find("priority"); p != body.end()) {
    if (!p->is_number_unsigned() || p->get<uint64_t>() > 255) {
      return Refuse(400, "bad_input", "priority: 0 to 255");
    }
    u.priority = p->get<uint32_t>();
  }
  if (auto ok = protocol::ValidateUpdate(u); !ok) {
    return Refuse(400, "bad_input", ok.error().message);
  }
  auto reply = reader_.Script("update", wire::UpdateArgs(u, ""));
  if (!reply) {
    Error e = ScriptError(reply.error());
    switch (e.code) {
      case ErrorCode::kNotFound:
        return Refuse(404, "not_found", e.message);
      case ErrorCode::kConflict:
        return JsonAnswer(409, {{"error", e.message}});
      case ErrorCode::kInvalidArgument:
        return Refuse(400, "bad_input", e.message);
      default:
        return JsonAnswer(503, {{"error", e.message}});
    }
  }
  auto tasks = wire::ParseTasks(reply->get());
  if (!tasks || tasks->size() != 1 || !(*tasks)[0]) {
    return JsonAnswer(500, {{"error", "unexpected store reply to an update"}});
  }
  return JsonAnswer(200, SummaryJson(*(*tasks)[0]));
}

// GET /api/batches/all?state=&limit=&cursor=: a LIST page of batches (every batch the store
// keeps, by creation; the Batches page's first table is only what this broker saw change).
HttpResponse BrokerApi::AllBatches(const HttpRequest& r) {
  if (auto no = Guard(r, ApiNeed::kRead)) return *no;
  protocol::List req;
  req.what = "batches";
  req.state = r.Query("state").value_or("");
  req.cursor = r.Query("cursor").value_or("");
  auto limit = Number(r, "limit", 50, protocol::kMaxListLimit);
  if (!limit) return Refuse(400, "bad_input", "limit: 1 to 1000");
  req.limit = *limit;
  if (auto ok = protocol::ValidateList(req); !ok) {
    return Refuse(400, "bad_input", ok.error().message);
  }
  auto reply = reader_.Script("list", wire::ListArgs(req, "", kApiListScanEntries));
  if (!reply) {
    Error e = ScriptError(reply.error());
    if (e.code == ErrorCode::kInvalidArgument) return Refuse(400, "bad_input", e.message);
    return JsonAnswer(503, {{"error", e.message}});
  }
  auto page = wire::ParseList(reply->get());
  if (!page) return JsonAnswer(500, {{"error", page.error().message}});
  json batches = json::array();
  for (const auto& b : page->batches) {
    batches.push_back({{"id", b.id},
                       {"state", b.state},
                       {"total", b.total},
                       {"counts", b.counts},
                       {"cost", b.cost},
                       {"budget", b.budget},
                       {"budget_exceeded", b.budget_exceeded},
                       {"created_ms", b.created_ms},
                       {"finished_ms", b.finished_ms}});
  }
  return JsonAnswer(200, {{"batches", std::move(batches)}, {"next_cursor", page->next}});
}

}  // namespace taskmill::broker
