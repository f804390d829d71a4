#pragma once

// Broker endpoint lists (issue 17): `--broker tcp://a:5555,tcp://b:5555`, and the order a
// client or worker walks them in after a broker's loss.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "taskmill/shared/error.h"

namespace taskmill {

// Splits a comma-separated list of ZeroMQ endpoints; spaces around items are trimmed. An
// empty item, an item without a scheme, or a scheme other than tcp, ipc or inproc is
// kInvalidArgument naming the item. A single endpoint is a list of one.
Result<std::vector<std::string>> ParseEndpointList(std::string_view list);

// Where a client or worker is in its endpoint list: it starts at a random position (to
// spread load) and moves to the next one, round-robin, on every loss. It never moves back
// by itself when an earlier broker returns. After a whole cycle of endpoints that each
// failed without ever answering, the caller backs off before cycling again
// (CycleFailed). Not thread-safe; owned by its connection.
class EndpointRing {
 public:
  // `endpoints` must not be empty; `start` is taken modulo its size.
  EndpointRing(std::vector<std::string> endpoints, size_t start);
  // The ring of a `--broker` list (ParseEndpointList), at a random start (RandomStart): what
  // every client and worker walks.
  static Result<EndpointRing> Parse(std::string_view list);

  const std::string& current() const { return endpoints_[index_]; }
  size_t index() const { return index_; }
  size_t size() const { return endpoints_.size(); }
  const std::vector<std::string>& all() const { return endpoints_; }
  // Moves to the next endpoint (itself when there is only one) and returns it.
  const std::string& Next();
  // The current endpoint answered: the count of failures in a row starts again.
  void Answered() { failed_in_row_ = 0; }
  // The current endpoint was lost or never answered; returns true iff every endpoint has
  // now failed in a row (a whole cycle): back off before the next attempt.
  bool Failed();

 private:
  std::vector<std::string> endpoints_;
  size_t index_ = 0;
  size_t failed_in_row_ = 0;
};

// A random start position in [0, n) (n > 0), from the OS's random source.
size_t RandomStart(size_t n);

}  // namespace taskmill
