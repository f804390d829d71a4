// Store's administration verbs (store.h, "Administration"): pausing queues (queue_pause.lua)
// and quieting workers (worker_quiet.lua), each one script call. Arguments are encoded and
// replies read here; every mismatch is kInternal naming the field, never a crash.

#include "store/msgpack_read.h"
#include "store/msgpack_writer.h"
#include "store/store.h"
#include "store/store_wire.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::broker {
namespace {

// worker_quiet.lua's {quiet = ids}.
Result<std::vector<std::string>> ParseQuiet(const redisReply* r) {
  auto packed = wire::Unpack(r, "worker_quiet reply");
  if (!packed) return std::unexpected(packed.error());
  auto top = mp::Map(packed->get(), "worker_quiet reply");
  if (!top) return std::unexpected(top.error());
  return mp::Strings(mp::Get(*top, "quiet"), "quiet workers");
}

}  // namespace

void Store::SetQueuePaused(std::string queue, bool paused, Callback<bool> cb) {
  if (auto r = protocol::ValidateName(queue, "queue"); !r) return cb(std::unexpected(r.error()));
  MsgpackWriter w;
  w.Map(2);
  w.Str("queue");
  w.Str(queue);
  w.Str("paused");
  w.Bool(paused);
  Send<bool>(kQueuePause, clock_.NowMs(), w.Take(), std::move(cb),
             [](const redisReply* r) -> Result<bool> {
               auto packed = wire::Unpack(r, "queue_pause reply");
               if (!packed) return std::unexpected(packed.error());
               auto top = mp::Map(packed->get(), "queue_pause reply");
               if (!top) return std::unexpected(top.error());
               return mp::Bool(mp::Get(*top, "paused"), "paused");
             });
}

void Store::SetWorkerQuiet(std::string worker_id, bool quiet, int64_t ttl_ms, Callback<bool> cb) {
  if (auto r = protocol::ValidateName(worker_id, "worker"); !r) {
    return cb(std::unexpected(r.error()));
  }
  MsgpackWriter w;
  w.Map(3);
  w.Str("worker");
  w.Str(worker_id);
  w.Str("quiet");
  w.Bool(quiet);
  w.Str("ttl");
  w.Int(ttl_ms);
  Send<bool>(kWorkerQuiet, clock_.NowMs(), w.Take(), std::move(cb),
             [](const redisReply* r) -> Result<bool> {
               auto ids = ParseQuiet(r);
               if (!ids) return std::unexpected(ids.error());
               return !ids->empty();
             });
}

void Store::QuietWorkers(std::vector<std::string> worker_ids,
                         Callback<std::vector<std::string>> cb) {
  if (worker_ids.empty()) return cb(std::vector<std::string>{});
  MsgpackWriter w;
  w.Map(2);
  w.Str("ttl");
  w.Int(kQuietTtlMs);
  w.Str("read");
  w.Array(static_cast<uint32_t>(worker_ids.size()));
  for (const auto& id : worker_ids) w.Str(id);
  Send<std::vector<std::string>>(kWorkerQuiet, clock_.NowMs(), w.Take(), std::move(cb),
                                 ParseQuiet);
}

}  // namespace taskmill::broker
