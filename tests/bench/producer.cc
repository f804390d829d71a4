#include "producer.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <future>

#include "taskmill/shared/protocol/codec.h"

namespace taskmill::bench {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

WireProducer::WireProducer(zmq::context_t& ctx, const std::string& endpoint, Completion completion)
    : socket_(ctx, zmq::socket_type::dealer), completion_(completion) {
  socket_.set(zmq::sockopt::linger, 0);
  // Results of a whole run may queue up here while a producer is still submitting.
  socket_.set(zmq::sockopt::rcvhwm, 0);
  socket_.set(zmq::sockopt::sndhwm, 0);
  socket_.connect(endpoint);
}

void WireProducer::Send(const protocol::Message& msg) {
  auto frames = protocol::Encode(msg);
  socket_.send(zmq::buffer(frames.version), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(frames.command), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(frames.body), zmq::send_flags::none);
}

Result<void> WireProducer::Pump(int timeout_ms) {
  zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
  try {
    zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms));
    if (!(item.revents & ZMQ_POLLIN)) return {};
    zmq::message_t parts[3];
    while (true) {
      size_t n = 0;
      bool more = true;
      while (more) {
        zmq::message_t scratch;
        auto& m = n < 3 ? parts[n] : scratch;
        if (!socket_.recv(m, n == 0 ? zmq::recv_flags::dontwait : zmq::recv_flags::none)) {
          return {};  // nothing more queued
        }
        ++n;
        more = socket_.get(zmq::sockopt::rcvmore);
      }
      if (n != 3)
        return MakeError(ErrorCode::kBadFrame,
                         "broker sent a message of " + std::to_string(n) + " frames");
      std::string_view views[3];
      for (size_t i = 0; i < 3; ++i) {
        views[i] = {static_cast<const char*>(parts[i].data()), parts[i].size()};
      }
      auto msg = protocol::Decode(views);
      if (!msg) {
        return MakeError(msg.error().code, "decoding a broker message: " + msg.error().message);
      }
      if (auto handled = Handle(*msg); !handled) return handled;
    }
  } catch (const zmq::error_t& e) {
    return MakeError(ErrorCode::kInternal, std::string("zmq: ") + e.what());
  }
}

void Producer::Finished(const protocol::TaskInfo& task, int64_t now_ns) {
  last_result_ns_ = now_ns;
  ++results_;
  if (task.state != protocol::TaskState::kSucceeded) ++failed_;
  if (keep_finished_) finished_.push_back({task.priority, task.started_ms, now_ns});
}

Result<void> WireProducer::Handle(const protocol::Message& msg) {
  if (const auto* reply = std::get_if<protocol::Reply>(&msg)) {
    if (reply->error) {
      return MakeError(ErrorCodeFromName(reply->error->code),
                       "broker refused a request: " + reply->error->message);
    }
    if (waits_.erase(reply->req_id) > 0) {
      int64_t now = NowNs();
      for (const auto& task : reply->tasks) {
        if (!protocol::IsTerminal(task.state)) {
          return MakeError(ErrorCode::kTimeout, "WAIT answered before task " + task.id + " ended");
        }
        Finished(task, now);
      }
      return {};
    }
    if (unanswered_ > 0) --unanswered_;
    if (completion_ == Completion::kWait && !reply->ids.empty()) {
      protocol::Wait wait;
      wait.req_id = next_req_id_++;
      wait.ids = reply->ids;
      wait.timeout_ms = 3'600'000;
      waits_.insert(wait.req_id);
      Send(wait);
    }
    return {};
  }
  if (const auto* result = std::get_if<protocol::ResultMsg>(&msg)) {
    last_result_id_ = result->task.id;
    Finished(result->task, NowNs());
  }
  return {};  // events and anything else: not ours
}

Result<void> WireProducer::Submit(uint64_t count, const SubmitPlan& plan, int64_t deadline_ns) {
  keep_finished_ = plan.keep_finished;
  if (keep_finished_) finished_.reserve(finished_.size() + count);
  uint64_t sent = 0;
  while (sent < count || unanswered_ > 0) {
    while (sent < count && unanswered_ < plan.window) {
      protocol::Submit submit;
      submit.req_id = next_req_id_++;
      submit.notify = completion_ == Completion::kNotify;
      uint64_t n = std::min<uint64_t>(plan.chunk, count - sent);
      submit.tasks.assign(n, plan.spec);
      if (plan.priority) {
        for (uint64_t i = 0; i < n; ++i) submit.tasks[i].priority = plan.priority(sent + i);
      }
      if (first_submit_ns_ < 0) first_submit_ns_ = NowNs();
      Send(submit);
      sent += n;
      ++unanswered_;
    }
    if (NowNs() > deadline_ns) {
      return MakeError(ErrorCode::kTimeout, "submitting: " + std::to_string(sent) + " of " +
                                                std::to_string(count) + " sent, " +
                                                std::to_string(unanswered_) + " unanswered");
    }
    if (auto r = Pump(100); !r) return r;
  }
  return {};
}

Result<void> WireProducer::AwaitResults(uint64_t expected, int64_t deadline_ns) {
  while (results_ < expected) {
    if (NowNs() > deadline_ns) {
      return MakeError(ErrorCode::kTimeout, "waiting for results: " + std::to_string(results_) +
                                                " of " + std::to_string(expected));
    }
    if (auto r = Pump(100); !r) return r;
  }
  return {};
}

Result<int64_t> WireProducer::RoundTrip(const protocol::TaskSpec& spec, int64_t deadline_ns) {
  protocol::Submit submit;
  submit.req_id = next_req_id_++;
  submit.notify = completion_ == Completion::kNotify;
  submit.tasks.push_back(spec);
  uint64_t before = results_;
  int64_t start = NowNs();
  Send(submit);
  ++unanswered_;
  while (results_ == before || unanswered_ > 0) {
    if (NowNs() > deadline_ns) return MakeError(ErrorCode::kTimeout, "no RESULT for a task");
    if (auto r = Pump(10); !r) return std::unexpected(r.error());
  }
  return last_result_ns_ - start;
}

// ---- ClientProducer ----

Result<std::unique_ptr<ClientProducer>> ClientProducer::Connect(const std::string& endpoint,
                                                                Completion completion) {
  client::ClientOptions o;
  o.endpoint = endpoint;
  o.request_timeout_ms = 60'000;  // a loaded machine may queue a window of SUBMITs a while
  o.max_kept_results = 10'000'000;  // a whole run's results may arrive before they are taken
  auto c = client::Client::Connect(o);
  if (!c) return std::unexpected(c.error());
  return std::unique_ptr<ClientProducer>(new ClientProducer(std::move(*c), completion));
}

Result<void> ClientProducer::Submit(uint64_t count, const SubmitPlan& plan,
                                    int64_t deadline_ns) {
  keep_finished_ = plan.keep_finished;
  if (keep_finished_) finished_.reserve(finished_.size() + count);
  chunk_ = plan.chunk;
  unawaited_.reserve(unawaited_.size() + count);
  client::SubmitOptions how{.notify = completion_ == Completion::kNotify};
  std::deque<std::future<Result<client::SubmitResult>>> inflight;
  uint64_t sent = 0;
  while (sent < count || !inflight.empty()) {
    while (sent < count && inflight.size() < plan.window) {
      uint64_t n = std::min<uint64_t>(plan.chunk, count - sent);
      std::vector<protocol::TaskSpec> specs(n, plan.spec);
      if (plan.priority) {
        for (uint64_t i = 0; i < n; ++i) specs[i].priority = plan.priority(sent + i);
      }
      if (first_submit_ns_ < 0) first_submit_ns_ = NowNs();
      inflight.push_back(client_->SubmitManyAsync(std::move(specs), how));
      sent += n;
    }
    auto submitted = inflight.front().get();
    inflight.pop_front();
    if (!submitted) return std::unexpected(submitted.error());
    unawaited_.insert(unawaited_.end(), submitted->ids.begin(), submitted->ids.end());
    if (NowNs() > deadline_ns) {
      return MakeError(ErrorCode::kTimeout, "submitting: " + std::to_string(sent) + " of " +
                                                std::to_string(count) + " sent");
    }
  }
  return {};
}

Result<void> ClientProducer::AwaitResults(uint64_t expected, int64_t deadline_ns) {
  size_t done = 0;
  while (done < unawaited_.size() && results_ < expected) {
    int64_t left_ms = (deadline_ns - NowNs()) / 1'000'000;
    if (left_ms <= 0) break;
    size_t n = std::min<size_t>(chunk_, unawaited_.size() - done);
    std::vector<std::string> ids(unawaited_.begin() + static_cast<ptrdiff_t>(done),
                                 unawaited_.begin() + static_cast<ptrdiff_t>(done + n));
    auto tasks = client_->WaitResults(ids, static_cast<uint32_t>(left_ms));
    if (!tasks) return std::unexpected(tasks.error());
    int64_t now = NowNs();
    for (const auto& task : *tasks) {
      if (!protocol::IsTerminal(task.state)) {
        return MakeError(ErrorCode::kTimeout, "task " + task.id + " did not end in time");
      }
      Finished(task, now);
    }
    done += n;
  }
  unawaited_.erase(unawaited_.begin(), unawaited_.begin() + static_cast<ptrdiff_t>(done));
  if (results_ < expected) {
    return MakeError(ErrorCode::kTimeout, "waiting for results: " + std::to_string(results_) +
                                              " of " + std::to_string(expected));
  }
  return {};
}

Result<int64_t> ClientProducer::RoundTrip(const protocol::TaskSpec& spec, int64_t deadline_ns) {
  int64_t start = NowNs();
  auto id = client_->Submit(spec, {.notify = completion_ == Completion::kNotify});
  if (!id) return std::unexpected(id.error());
  int64_t left_ms = std::max<int64_t>(1, (deadline_ns - NowNs()) / 1'000'000);
  auto task = client_->WaitResult(*id, static_cast<uint32_t>(left_ms));
  if (!task) return std::unexpected(task.error());
  if (!protocol::IsTerminal(task->state)) {
    return MakeError(ErrorCode::kTimeout, "no result for task " + *id);
  }
  Finished(*task, NowNs());
  return last_result_ns_ - start;
}

Result<std::unique_ptr<Producer>> MakeProducer(const std::string& kind, zmq::context_t& ctx,
                                               const std::string& endpoint,
                                               Completion completion) {
  if (kind == "wire") return std::make_unique<WireProducer>(ctx, endpoint, completion);
  auto p = ClientProducer::Connect(endpoint, completion);
  if (!p) return std::unexpected(p.error());
  return std::unique_ptr<Producer>(std::move(*p));
}

}  // namespace taskmill::bench
