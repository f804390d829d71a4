#pragma once

// One HTTP GET for tests and the bench: the broker's and worker's /metrics, /healthz,
// /readyz, the dashboard and its JSON API. A fresh loopback connection per call (as a
// Prometheus scrape or a browser's first request), through cpp-httplib's client, so no
// suite hand-writes HTTP. Hostile requests (half heads, floods) stay raw in their suites.

#include <map>
#include <optional>
#include <string>

namespace taskmill::testing {

struct HttpAnswer {
  int status = -1;  // -1: no answer within the timeout (or nothing listening)
  std::string body;
  std::map<std::string, std::string> headers;  // names as the server wrote them

  explicit operator bool() const { return status >= 0; }
  // A header's value, "" when absent; the name matches case-insensitively.
  std::string Header(const std::string& name) const;
};

using HttpHeaders = std::map<std::string, std::string>;

// GET `path` from `address` ("host:port", e.g. a broker's bound --http address).
HttpAnswer HttpGet(const std::string& address, const std::string& path,
                   const HttpHeaders& headers = {}, int timeout_ms = 5000);

// The value of the first sample of metric `name` (with labels: the broker's own) in a
// /metrics page; nullopt when the page has none.
std::optional<double> MetricSample(const std::string& page, const std::string& name);

}  // namespace taskmill::testing
