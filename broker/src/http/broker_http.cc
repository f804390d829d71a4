#include "http/broker_http.h"

#include <unistd.h>

#include "metrics/metrics_page.h"

namespace taskmill::broker {

BrokerHttp::BrokerHttp(const ReactorBoard& board, BrokerMetrics& metrics, StoreReader& reader,
                       const Clock& clock)
    : board_(board), metrics_(metrics), reader_(reader), clock_(clock) {}

BrokerHttp::~BrokerHttp() { Stop(); }

Result<HttpAddress> BrokerHttp::Start(const HttpAddress& address) {
  server_ = std::make_unique<HttpServer>();
  server_->Route("/healthz", [this] { return Healthz(); });
  server_->Route("/readyz", [this] { return Readyz(); });
  server_->Route("/metrics", [this] { return Metrics(); });
  server_->OnAnswer([this](int status) { metrics_.HttpAnswered(status); });
  return server_->Start(address);
}

void BrokerHttp::Stop() {
  if (server_) server_->Stop();
}

HttpResponse BrokerHttp::Healthz() const {
  int64_t age = clock_.MonotonicMs() - board_.last_turn_ms();
  if (age > kHealthyTurnAgeMs) {
    return {503, "text/plain; charset=utf-8",
            "unhealthy: the reactor has not turned for " + std::to_string(age) + " ms\n"};
  }
  return {200, "text/plain; charset=utf-8", "ok\n"};
}

HttpResponse BrokerHttp::Readyz() const {
  auto not_ready = [](std::string why) {
    return HttpResponse{503, "text/plain; charset=utf-8", "not ready: " + why + "\n"};
  };
  ReactorSnapshot s = board_.Read();
  if (!s.published) return not_ready("starting");
  if (s.draining) return not_ready("draining");
  // The reactor's connection is ready only once connected, authenticated and every script
  // loaded; our own PING sees an outage (or LOADING) before the reactor's next command does.
  if (!s.redis_ready) return not_ready("redis unavailable or scripts not loaded" +
                     (s.redis_error.empty() ? "" : ": " + s.redis_error));
  if (auto ping = reader_.Ping(); !ping) return not_ready(ping.error().message);
  return {200, "text/plain; charset=utf-8", "ready\n"};
}

HttpResponse BrokerHttp::Metrics() const {
  ReactorSnapshot s = board_.Read();
  double age = static_cast<double>(clock_.MonotonicMs() - board_.last_turn_ms()) / 1000.0;
  auto queues = reader_.QueueFigures();
  return {200, "text/plain; version=0.0.4; charset=utf-8",
          RenderMetricsPage(metrics_.broker(), s, age, queues, metrics_.Collect())};
}

std::string BrokerName(const std::string& frontend_endpoint) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof host, "localhost");
  }
  std::string name = host;
  if (frontend_endpoint.rfind("tcp://", 0) == 0) {
    size_t colon = frontend_endpoint.rfind(':');
    return name + ":" + frontend_endpoint.substr(colon + 1);
  }
  return name + ":" + frontend_endpoint;
}

}  // namespace taskmill::broker
