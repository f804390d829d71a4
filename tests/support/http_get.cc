#include "support/http_get.h"

#include <httplib.h>
#include <strings.h>

#include <cstdlib>

namespace taskmill::testing {

std::string HttpAnswer::Header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (strcasecmp(key.c_str(), name.c_str()) == 0) return value;
  }
  return "";
}

HttpAnswer HttpGet(const std::string& address, const std::string& path,
                   const HttpHeaders& headers, int timeout_ms) {
  HttpAnswer answer;
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return answer;
  int port = 0;
  try {
    port = std::stoi(address.substr(colon + 1));
  } catch (const std::exception&) {
    return answer;
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);  // [::1]:port
  }
  httplib::Client client(host, port);
  const time_t sec = timeout_ms / 1000;
  const time_t usec = static_cast<time_t>(timeout_ms % 1000) * 1000;
  client.set_connection_timeout(sec, usec);
  client.set_read_timeout(sec, usec);
  client.set_write_timeout(sec, usec);
  httplib::Headers sent(headers.begin(), headers.end());
  auto r = client.Get(path.c_str(), sent);
  if (!r) return answer;
  answer.status = r->status;
  answer.body = std::move(r->body);
  for (const auto& [key, value] : r->headers) answer.headers.emplace(key, value);
  return answer;
}

std::optional<double> MetricSample(const std::string& page, const std::string& name) {
  std::string wanted = "\n" + name + "{";
  size_t at = page.starts_with(wanted.substr(1)) ? 0 : page.find(wanted);
  if (at == std::string::npos) return std::nullopt;
  size_t space = page.find("} ", at);
  if (space == std::string::npos) return std::nullopt;
  return std::strtod(page.c_str() + space + 2, nullptr);
}

}  // namespace taskmill::testing
