#include "cluster/bus_codec.h"

#include "store/msgpack_read.h"
#include "store/msgpack_writer.h"
#include "taskmill/shared/protocol/codec.h"

namespace taskmill::broker::bus {
namespace {

std::unexpected<Error> BadBus(std::string_view why) {
  return std::unexpected(Error{ErrorCode::kInvalidArgument, "bus message: " + std::string(why)});
}

void Strs(MsgpackWriter& w, const std::vector<std::string>& v) {
  w.Array(static_cast<uint32_t>(v.size()));
  for (const auto& s : v) w.Str(s);
}

// The items of message `m` (an array with its name first); fails unless it has `n` items.
Result<std::span<const msgpack::object>> Items(const msgpack::object& m, size_t n) {
  auto a = mp::Array(m, "message");
  if (!a) return std::unexpected(a.error());
  if (a->size() != n) return BadBus("wrong number of fields");
  return a;
}

Result<std::string> S(const msgpack::object& o) {
  auto s = mp::Str(o, "field");
  if (!s) return std::unexpected(s.error());
  return std::string(*s);
}

#define BUS_TRY(var, expr)                            \
  auto var##_r = (expr);                              \
  if (!var##_r) return std::unexpected(var##_r.error()); \
  auto var = std::move(*var##_r)

Result<std::vector<msgpack::object>> Messages(mp::Stream& stream, std::string_view payload) {
  if (payload.size() > kMaxPayloadBytes) return BadBus("payload too large");
  BUS_TRY(top, stream.Next("payload"));
  BUS_TRY(arr, mp::Array(top, "payload"));
  if (arr.size() > kMaxMessages) return BadBus("too many messages");
  if (!stream.AtEnd()) return BadBus("trailing bytes");
  return std::vector<msgpack::object>(arr.begin(), arr.end());
}

Result<std::string> Name(const msgpack::object& m) {
  BUS_TRY(a, mp::Array(m, "message"));
  if (a.empty()) return BadBus("empty message");
  return S(a[0]);
}

}  // namespace

std::string EncodeCtl(const std::vector<CtlMessage>& msgs) {
  MsgpackWriter w;
  w.Array(static_cast<uint32_t>(msgs.size()));
  for (const auto& m : msgs) {
    if (const auto* watch = std::get_if<Watch>(&m)) {
      w.Array(4);
      w.Str("watch");
      w.Str(watch->broker);
      Strs(w, watch->tasks);
      Strs(w, watch->batches);
    } else if (const auto* admin = std::get_if<Admin>(&m)) {
      w.Array(4);
      w.Str("admin");
      w.Str(admin->broker);
      w.Str(admin->what);
      w.Str(admin->name);
    } else {
      w.Array(2);
      w.Str("hello");
      w.Str(std::get<Hello>(m).broker);
    }
  }
  return w.Take();
}

Result<std::vector<CtlMessage>> DecodeCtl(std::string_view payload) {
  mp::Stream stream(payload);
  BUS_TRY(msgs, Messages(stream, payload));
  std::vector<CtlMessage> out;
  for (const auto& m : msgs) {
    BUS_TRY(name, Name(m));
    if (name == "watch") {
      BUS_TRY(a, Items(m, 4));
      Watch watch;
      BUS_TRY(broker, S(a[1]));
      BUS_TRY(tasks, mp::Strings(a[2], "tasks"));
      BUS_TRY(batches, mp::Strings(a[3], "batches"));
      watch.broker = std::move(broker);
      watch.tasks = std::move(tasks);
      watch.batches = std::move(batches);
      out.emplace_back(std::move(watch));
    } else if (name == "hello") {
      BUS_TRY(a, Items(m, 2));
      BUS_TRY(broker, S(a[1]));
      out.emplace_back(Hello{std::move(broker)});
    } else if (name == "admin") {
      BUS_TRY(a, Items(m, 4));
      BUS_TRY(broker, S(a[1]));
      BUS_TRY(what, S(a[2]));
      BUS_TRY(subject, S(a[3]));
      out.emplace_back(Admin{std::move(broker), std::move(what), std::move(subject)});
    } else {
      return BadBus("unknown message '" + name.substr(0, 32) + "'");
    }
  }
  return out;
}

std::string EncodeEvents(const std::vector<Event>& events) {
  MsgpackWriter w;
  w.Array(static_cast<uint32_t>(events.size()));
  for (const auto& e : events) {
    if (const auto* en = std::get_if<Ended>(&e)) {
      w.Array(2);
      w.Str("end");
      w.Str(en->task_id);
    } else if (const auto* st = std::get_if<Started>(&e)) {
      w.Array(5);
      w.Str("start");
      w.Str(st->batch_id);
      w.Str(st->task_id);
      w.Str(st->name);
      w.Uint(st->attempt);
    } else if (const auto* pr = std::get_if<Progressed>(&e)) {
      w.Array(4);
      w.Str("prog");
      w.Str(pr->task_id);
      w.Double(pr->fraction);
      w.Str(pr->message);
    } else if (const auto* fi = std::get_if<Finished>(&e)) {
      const FinishOutcome& o = fi->outcome;
      // A 9th item, the fail_fast ids, only when there are some (a decoder that knows only 8
      // still reads every other message).
      bool fast = !o.fail_fast_cancelled.empty();
      w.Array(fast ? 9 : 8);
      w.Str("fin");
      w.Str(o.batch_id);
      w.Str(o.task_id);
      w.Uint(static_cast<uint8_t>(o.status));
      w.Uint(o.attempt);
      Strs(w, o.cancelled);
      Strs(w, o.budget_cancelled);
      if (!fi->done) {
        w.Nil();
      } else {
        w.Array(3);
        w.Map(static_cast<uint32_t>(fi->done->cost.size()));
        for (const auto& [k, v] : fi->done->cost) {
          w.Str(k);
          w.Double(v);
        }
        if (fi->done->error) {
          w.Array(3);
          w.Str(fi->done->error->code);
          w.Str(fi->done->error->message);
          w.Bool(fi->done->error->retryable);
        } else {
          w.Nil();
        }
        w.Bool(fi->done->ok);
      }
      if (fast) Strs(w, o.fail_fast_cancelled);
    } else if (const auto* ca = std::get_if<Cancelled>(&e)) {
      w.Array(3);
      w.Str("can");
      w.Str(ca->task_id);
      w.Str(ca->reason);
    } else {
      const auto& b = std::get<BatchChanged>(e).batch;
      protocol::Reply carrier;
      carrier.batch = b;
      w.Array(2);
      w.Str("batch");
      w.Str(protocol::EncodeBody(carrier));  // the protocol's own BatchStatus encoding
    }
  }
  return w.Take();
}

Result<std::vector<Event>> DecodeEvents(std::string_view payload) {
  mp::Stream stream(payload);
  BUS_TRY(msgs, Messages(stream, payload));
  std::vector<Event> out;
  out.reserve(msgs.size());
  for (const auto& m : msgs) {
    BUS_TRY(name, Name(m));
    if (name == "end") {
      BUS_TRY(a, Items(m, 2));
      BUS_TRY(id, S(a[1]));
      out.emplace_back(Ended{std::move(id)});
    } else if (name == "start") {
      BUS_TRY(a, Items(m, 5));
      Started s;
      BUS_TRY(batch, S(a[1]));
      BUS_TRY(id, S(a[2]));
      BUS_TRY(task_name, S(a[3]));
      BUS_TRY(attempt, mp::Int(a[4], "attempt"));
      s.batch_id = std::move(batch);
      s.task_id = std::move(id);
      s.name = std::move(task_name);
      s.attempt = static_cast<uint32_t>(std::clamp<int64_t>(attempt, 0, UINT32_MAX));
      out.emplace_back(std::move(s));
    } else if (name == "prog") {
      BUS_TRY(a, Items(m, 4));
      Progressed p;
      BUS_TRY(id, S(a[1]));
      BUS_TRY(fraction, mp::Double(a[2], "fraction"));
      BUS_TRY(message, S(a[3]));
      p.task_id = std::move(id);
      p.fraction = fraction;
      p.message = std::move(message);
      out.emplace_back(std::move(p));
    } else if (name == "fin") {
      BUS_TRY(a, mp::Array(m, "message"));
      if (a.size() != 8 && a.size() != 9) return BadBus("wrong number of fields");
      Finished f;
      BUS_TRY(batch, S(a[1]));
      BUS_TRY(id, S(a[2]));
      BUS_TRY(status, mp::Int(a[3], "status"));
      BUS_TRY(attempt, mp::Int(a[4], "attempt"));
      BUS_TRY(cancelled, mp::Strings(a[5], "cancelled"));
      BUS_TRY(budget, mp::Strings(a[6], "budget_cancelled"));
      if (status < 0 || status > static_cast<int64_t>(FinishStatus::kExpired)) {
        return BadBus("unknown finish status");
      }
      f.outcome.batch_id = std::move(batch);
      f.outcome.task_id = std::move(id);
      f.outcome.status = static_cast<FinishStatus>(status);
      f.outcome.attempt = static_cast<uint32_t>(std::clamp<int64_t>(attempt, 0, UINT32_MAX));
      f.outcome.cancelled = std::move(cancelled);
      f.outcome.budget_cancelled = std::move(budget);
      if (!mp::IsNil(a[7])) {
        BUS_TRY(d, Items(a[7], 3));
        protocol::Done done;
        done.task_id = f.outcome.task_id;
        BUS_TRY(costs, mp::Map(d[0], "cost"));
        for (const auto& kv : costs) {
          BUS_TRY(k, S(kv.key));
          BUS_TRY(v, mp::Double(kv.val, "cost"));
          done.cost[k] = v;
        }
        if (!mp::IsNil(d[1])) {
          BUS_TRY(err, Items(d[1], 3));
          protocol::TaskError te;
          BUS_TRY(code, S(err[0]));
          BUS_TRY(msg, S(err[1]));
          BUS_TRY(retry, mp::Bool(err[2], "retryable"));
          te.code = std::move(code);
          te.message = std::move(msg);
          te.retryable = retry;
          done.error = std::move(te);
        }
        BUS_TRY(ok, mp::Bool(d[2], "ok"));
        done.ok = ok;
        f.done = std::move(done);
      }
      if (a.size() == 9) {
        BUS_TRY(fast, mp::Strings(a[8], "fail_fast_cancelled"));
        f.outcome.fail_fast_cancelled = std::move(fast);
      }
      out.emplace_back(std::move(f));
    } else if (name == "can") {
      BUS_TRY(a, Items(m, 3));
      BUS_TRY(id, S(a[1]));
      BUS_TRY(reason, S(a[2]));
      out.emplace_back(Cancelled{std::move(id), std::move(reason)});
    } else if (name == "batch") {
      BUS_TRY(a, Items(m, 2));
      BUS_TRY(body, mp::Str(a[1], "batch"));
      auto decoded = protocol::DecodeBody(protocol::Command::kReply, body);
      if (!decoded) return std::unexpected(decoded.error());
      auto* reply = std::get_if<protocol::Reply>(&*decoded);
      if (reply == nullptr || !reply->batch) return BadBus("batch without a batch");
      out.emplace_back(BatchChanged{std::move(*reply->batch)});
    } else {
      return BadBus("unknown message '" + name.substr(0, 32) + "'");
    }
  }
  return out;
}

}  // namespace taskmill::broker::bus
