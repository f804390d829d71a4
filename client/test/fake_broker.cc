#include "fake_broker.h"

namespace taskmill::client::testing {

FakeBroker::FakeBroker(Handler handler, std::string endpoint)
    : handler_(std::move(handler)), router_(ctx_, zmq::socket_type::router) {
  router_.set(zmq::sockopt::linger, 0);
  router_.bind(endpoint.empty() ? "tcp://127.0.0.1:*" : endpoint);
  endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  // The socket now belongs to the fake's thread alone.
  thread_ = std::thread([this] { Run(); });
}

FakeBroker::~FakeBroker() {
  stop_ = true;
  thread_.join();
  router_.close();
}

void FakeBroker::Push(std::vector<protocol::Message> messages) {
  std::lock_guard lock(mu_);
  for (auto& m : messages) pushes_.push_back(std::move(m));
}

std::vector<protocol::Message> FakeBroker::Requests() {
  std::lock_guard lock(mu_);
  return requests_;
}

size_t FakeBroker::RequestCount() {
  std::lock_guard lock(mu_);
  return requests_.size();
}

void FakeBroker::SendTo(const std::string& identity, const protocol::Message& m) {
  auto f = protocol::Encode(m);
  router_.send(zmq::buffer(identity), zmq::send_flags::sndmore);
  router_.send(zmq::buffer(f.version), zmq::send_flags::sndmore);
  router_.send(zmq::buffer(f.command), zmq::send_flags::sndmore);
  router_.send(zmq::buffer(f.body), zmq::send_flags::none);
}

void FakeBroker::Run() {
  while (!stop_) {
    std::vector<protocol::Message> pushes;
    std::string peer;
    {
      std::lock_guard lock(mu_);
      pushes.swap(pushes_);
      peer = last_peer_;
    }
    for (const auto& m : pushes) SendTo(peer, m);
    zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(5));
    if (!(item.revents & ZMQ_POLLIN)) continue;
    std::vector<zmq::message_t> parts;
    do {
      zmq::message_t m;
      (void)router_.recv(m);
      parts.push_back(std::move(m));
    } while (router_.get(zmq::sockopt::rcvmore));
    if (parts.size() != 4) continue;
    std::string identity = parts[0].to_string();
    std::vector<std::string_view> views;
    for (size_t i = 1; i < parts.size(); ++i) {
      views.emplace_back(static_cast<const char*>(parts[i].data()), parts[i].size());
    }
    auto msg = protocol::Decode(views);
    if (!msg) continue;
    {
      std::lock_guard lock(mu_);
      requests_.push_back(*msg);
      last_peer_ = identity;
    }
    for (const auto& out : handler_(*msg)) SendTo(identity, out);
  }
}

bool WaitUntil(const std::function<bool()>& pred, int64_t timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace taskmill::client::testing
