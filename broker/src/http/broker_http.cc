#include "http/broker_http.h"

#include <unistd.h>

#include "http/web_assets.h"
#include "metrics/metrics_page.h"

namespace taskmill::broker {

namespace {

// The dashboard's files: no inline script or style, nothing from elsewhere, never framed.
HttpResponse Asset(const WebAsset& a) {
  return {200,
          std::string(a.content_type),
          std::string(a.body),
          {{"Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'none'"},
           {"X-Content-Type-Options", "nosniff"},
           {"Referrer-Policy", "no-referrer"},
           {"Cache-Control", "no-cache"}}};
}

}  // namespace

BrokerHttp::BrokerHttp(const ReactorBoard& board, BrokerMetrics& metrics, StoreReader& reader,
                       const Clock& clock, HttpTokens tokens, CompleteFn complete)
    : board_(board),
      metrics_(metrics),
      reader_(reader),
      clock_(clock),
      api_(board, reader, metrics, std::move(tokens), clock, std::move(complete)) {}

BrokerHttp::~BrokerHttp() { Stop(); }

Result<HttpAddress> BrokerHttp::Start(const HttpAddress& address) {
  HttpServerOptions options;
  options.max_body_bytes = kApiMaxBodyBytes;
  server_ = std::make_unique<HttpServer>(options);
  for (const WebAsset& a : WebAssets()) {
    HttpResponse r = Asset(a);
    server_->Route(std::string(a.path), [r] { return r; });
    if (a.path == "/index.html") server_->Route("/", [r] { return r; });
  }
  api_.AddRoutes(*server_);
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

HttpResponse BrokerHttp::Metrics() {
  ReactorSnapshot s = board_.Read();
  double age = static_cast<double>(clock_.MonotonicMs() - board_.last_turn_ms()) / 1000.0;
  auto queues = reader_.QueueFigures();
  if (queues) api_.Sample(*queues);
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
