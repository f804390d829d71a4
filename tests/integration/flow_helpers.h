#pragma once

// Small helpers shared by the end-to-end tests.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/cluster.h"

namespace taskmill::testing {

inline std::vector<std::string> SubmitAll(WireClient& c, std::vector<protocol::TaskSpec> specs) {
  protocol::Submit s;
  s.tasks = std::move(specs);
  auto reply = c.Call(s);
  EXPECT_TRUE(reply.has_value()) << (reply ? "" : reply.error().ToString());
  if (!reply) return {};
  EXPECT_FALSE(reply->error) << reply->error->code << ": " << reply->error->message;
  return reply->ids;
}

inline std::string SubmitOne(WireClient& c, protocol::TaskSpec spec) {
  auto ids = SubmitAll(c, {std::move(spec)});
  return ids.empty() ? "" : ids[0];
}

// WAIT until every task is terminal (or the timeout) and return their states.
inline std::vector<protocol::TaskInfo> WaitAll(WireClient& c, std::vector<std::string> ids,
                                               uint32_t timeout_ms = 20000) {
  protocol::Wait w;
  w.ids = std::move(ids);
  w.timeout_ms = timeout_ms;
  auto reply = c.Call(w, timeout_ms + 5000);
  EXPECT_TRUE(reply.has_value()) << (reply ? "" : reply.error().ToString());
  if (!reply) return {};
  EXPECT_FALSE(reply->error);
  return reply->tasks;
}

inline protocol::TaskInfo GetOne(WireClient& c, const std::string& id) {
  protocol::Get g;
  g.ids = {id};
  auto reply = c.Call(g);
  if (!reply || reply->tasks.empty()) return {};
  return reply->tasks[0];
}

}  // namespace taskmill::testing
