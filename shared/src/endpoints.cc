#include "taskmill/shared/endpoints.h"

#include "taskmill/shared/ids.h"

namespace taskmill {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<std::vector<std::string>> ParseEndpointList(std::string_view list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t comma = list.find(',', start);
    std::string_view item =
        Trim(list.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                                 : comma - start));
    if (item.empty()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "empty endpoint in the list '" + std::string(list) +
                           "' (expected e.g. tcp://a:5555,tcp://b:5555)");
    }
    size_t scheme_end = item.find("://");
    std::string_view scheme =
        scheme_end == std::string_view::npos ? std::string_view() : item.substr(0, scheme_end);
    if (scheme != "tcp" && scheme != "ipc" && scheme != "inproc") {
      return MakeError(ErrorCode::kInvalidArgument,
                       "cannot connect to '" + std::string(item) +
                           "': not a ZeroMQ endpoint (e.g. tcp://host:5555; tcp, ipc or "
                           "inproc)");
    }
    if (item.size() == scheme_end + 3) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "cannot connect to '" + std::string(item) + "': no address after its scheme");
    }
    out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

EndpointRing::EndpointRing(std::vector<std::string> endpoints, size_t start)
    : endpoints_(std::move(endpoints)), index_(endpoints_.empty() ? 0 : start % endpoints_.size()) {
  if (endpoints_.empty()) endpoints_.emplace_back();
}

Result<EndpointRing> EndpointRing::Parse(std::string_view list) {
  auto endpoints = ParseEndpointList(list);
  if (!endpoints) return std::unexpected(endpoints.error());
  size_t start = RandomStart(endpoints->size());
  return EndpointRing(std::move(*endpoints), start);
}

const std::string& EndpointRing::Next() {
  index_ = (index_ + 1) % endpoints_.size();
  return endpoints_[index_];
}

bool EndpointRing::Failed() {
  ++failed_in_row_;
  if (failed_in_row_ < endpoints_.size()) return false;
  failed_in_row_ = 0;
  return true;
}

size_t RandomStart(size_t n) {
  if (n <= 1) return 0;
  uint64_t r = 0;
  RandomBytes({reinterpret_cast<unsigned char*>(&r), sizeof r});
  return static_cast<size_t>(r % n);
}

}  // namespace taskmill
