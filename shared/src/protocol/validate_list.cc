// ValidateList (validate.h): what a LIST may ask for.

#include <string>
#include <vector>

#include "taskmill/shared/protocol/validate.h"

namespace taskmill::protocol {
namespace {

constexpr std::string_view kBatchStates[] = {"running", "succeeded", "partial", "failed"};

std::unexpected<Error> Invalid(const std::string& what) {
  return MakeError(ErrorCode::kInvalidArgument, what);
}

std::string Joined(const std::vector<std::string_view>& names) {
  std::string out;
  for (auto n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

}  // namespace

// Every named state after unknown, in the order of the state table: a state added to
// names.cc (e.g. expired) is listable with no change here.
std::vector<std::string_view> ListableTaskStates() {
  std::vector<std::string_view> out;
  for (int i = 1; i < 256; ++i) {
    std::string_view name = TaskStateName(static_cast<TaskState>(i));
    if (name == "unknown") break;
    out.push_back(name);
  }
  return out;
}

Result<void> ValidateList(const List& list) {
  if (list.limit < 1 || list.limit > kMaxListLimit) {
    return Invalid("limit: " + std::to_string(list.limit) + " is out of range (allowed: 1 to " +
                   std::to_string(kMaxListLimit) + ")");
  }
  if (list.cursor.size() > kMaxListCursorBytes) {
    return Invalid("cursor: longer than " + std::to_string(kMaxListCursorBytes) +
                   " bytes (pass back a reply's next_cursor as it came)");
  }
  for (char c : list.cursor) {
    if (c < 0x21 || c > 0x7e) {
      return Invalid("cursor: not one this broker gave (pass back a reply's next_cursor as it "
                     "came)");
    }
  }
  if (list.what == "batches") {
    if (!list.queue.empty() || !list.type.empty()) {
      return Invalid("a LIST of batches takes no queue or type (allowed: state, limit, cursor)");
    }
    if (list.state.empty()) return {};
    for (auto s : kBatchStates) {
      if (list.state == s) return {};
    }
    return Invalid("state: '" + list.state + "' is not a batch state (allowed: " +
                   Joined({std::begin(kBatchStates), std::end(kBatchStates)}) + ")");
  }
  if (list.what != "tasks") {
    return Invalid("what: '" + list.what + "' cannot be listed (allowed: tasks, batches)");
  }
  if (auto r = ValidateName(list.queue, "queue"); !r) return r;
  auto states = ListableTaskStates();
  bool known = false;
  for (auto s : states) known = known || list.state == s;
  if (!known) {
    return Invalid("state: '" + list.state + "' is not a task state (allowed: " +
                   Joined(states) + ")");
  }
  if (!list.type.empty()) {
    if (auto r = ValidateName(list.type, "type"); !r) return r;
  }
  return {};
}

Result<void> ValidateUpdate(const Update& u) {
  if (auto r = ValidateName(u.id, "id"); !r) return r;
  if (u.op == "priority") {
    if (u.priority > 255) {
      return Invalid("priority: " + std::to_string(u.priority) +
                     " is out of range (allowed: 0 to 255, higher runs first)");
    }
    return {};
  }
  if (u.op == "promote") {
    if (u.priority != 0) return Invalid("priority: only with op priority (op promote takes none)");
    return {};
  }
  return Invalid("op: '" + u.op + "' is not an update (allowed: priority, promote)");
}

}  // namespace taskmill::protocol
