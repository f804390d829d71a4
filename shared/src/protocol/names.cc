// Names of enums on the wire and in logs.

#include <array>

#include "protocol/fields.h"

namespace taskmill::protocol {

const char* CommandName(Command c) {
  switch (c) {
    case Command::kSubmit:
      return "SUBMIT";
    case Command::kBatch:
      return "BATCH";
    case Command::kWait:
      return "WAIT";
    case Command::kGet:
      return "GET";
    case Command::kCancel:
      return "CANCEL";
    case Command::kSubscribe:
      return "SUBSCRIBE";
    case Command::kStats:
      return "STATS";
    case Command::kDlq:
      return "DLQ";
    case Command::kComplete:
      return "COMPLETE";
    case Command::kSchedule:
      return "SCHEDULE";
    case Command::kLimit:
      return "LIMIT";
    case Command::kList:
      return "LIST";
    case Command::kUpdate:
      return "UPDATE";
    case Command::kQueue:
      return "QUEUE";
    case Command::kWorker:
      return "WORKER";
    case Command::kReply:
      return "REPLY";
    case Command::kResult:
      return "RESULT";
    case Command::kEvent:
      return "EVENT";
    case Command::kReady:
      return "READY";
    case Command::kHeartbeat:
      return "HEARTBEAT";
    case Command::kDone:
      return "DONE";
    case Command::kProgress:
      return "PROGRESS";
    case Command::kBye:
      return "BYE";
    case Command::kTask:
      return "TASK";
    case Command::kCancelTask:
      return "CANCEL_TASK";
    case Command::kBrokerHeartbeat:
      return "BROKER_HEARTBEAT";
    case Command::kDrain:
      return "DRAIN";
    case Command::kGoaway:
      return "GOAWAY";
    case Command::kMove:
      return "MOVE";
  }
  return "?";
}

namespace {
constexpr std::array<const char*, 10> kStateNames = {
    "unknown", "queued", "delayed", "blocked", "running", "succeeded", "failed", "cancelled",
    "awaiting", "expired"};
}  // namespace

const char* TaskStateName(TaskState s) {
  auto i = static_cast<size_t>(s);
  return i < kStateNames.size() ? kStateNames[i] : "unknown";
}

TaskState TaskStateFromName(std::string_view name) {
  for (size_t i = 0; i < kStateNames.size(); ++i) {
    if (name == kStateNames[i]) return static_cast<TaskState>(i);
  }
  return TaskState::kUnknown;
}

std::optional<TaskState> ParseTaskState(std::string_view name) {
  return TaskStateFromName(name);  // a state this peer does not know reads as unknown
}

bool IsTerminal(TaskState s) {
  return s == TaskState::kSucceeded || s == TaskState::kFailed || s == TaskState::kCancelled ||
         s == TaskState::kExpired;
}

const char* DlqOpName(DlqOp op) {
  switch (op) {
    case DlqOp::kList:
      return "list";
    case DlqOp::kRetry:
      return "retry";
    case DlqOp::kPurge:
      return "purge";
  }
  return "list";
}

std::optional<DlqOp> ParseDlqOp(std::string_view name) {
  if (name == "list") return DlqOp::kList;
  if (name == "retry") return DlqOp::kRetry;
  if (name == "purge") return DlqOp::kPurge;
  return std::nullopt;
}

const char* ScheduleOpName(ScheduleOp op) {
  switch (op) {
    case ScheduleOp::kList:
      return "list";
    case ScheduleOp::kAdd:
      return "add";
    case ScheduleOp::kPause:
      return "pause";
    case ScheduleOp::kResume:
      return "resume";
    case ScheduleOp::kRemove:
      return "remove";
  }
  return "list";
}

std::optional<ScheduleOp> ParseScheduleOp(std::string_view name) {
  if (name == "list") return ScheduleOp::kList;
  if (name == "add") return ScheduleOp::kAdd;
  if (name == "pause") return ScheduleOp::kPause;
  if (name == "resume") return ScheduleOp::kResume;
  if (name == "remove") return ScheduleOp::kRemove;
  return std::nullopt;
}

const char* QueueOpName(QueueOp op) { return op == QueueOp::kResume ? "resume" : "pause"; }

std::optional<QueueOp> ParseQueueOp(std::string_view name) {
  if (name == "pause") return QueueOp::kPause;
  if (name == "resume") return QueueOp::kResume;
  return std::nullopt;
}

const char* WorkerOpName(WorkerOp op) { return op == WorkerOp::kUnquiet ? "unquiet" : "quiet"; }

std::optional<WorkerOp> ParseWorkerOp(std::string_view name) {
  if (name == "quiet") return WorkerOp::kQuiet;
  if (name == "unquiet") return WorkerOp::kUnquiet;
  return std::nullopt;
}

}  // namespace taskmill::protocol
