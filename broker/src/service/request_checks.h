#pragma once

// The checks a client or worker request passes at the edge, before anything of it joins
// the turn's combined store call, so that a request the store would refuse is refused
// alone (issue 13: one SUBMIT with a label key "" failed 1,940 of another client's 2,000).
// Each check names the field and the limit (and its flag) in the error, in the words
// protocol::ValidateTaskSpec uses, which the client libraries apply too.
// Pure functions: no state, no I/O; called on the reactor thread.

#include <cstddef>
#include <string>

#include "taskmill/broker/broker.h"
#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/messages.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::broker {

// The broker's caps on one task spec: --max-payload-bytes (payload and labels together),
// --max-label-bytes.
protocol::SpecLimits TaskLimits(const BrokerOptions& options);

// A SUBMIT: 1 to --max-batch-tasks tasks, each a valid spec within the caps whose parents
// (depends_on, task ids here) are valid ids. Errors name the task ("tasks[3].labels: ...").
Result<void> CheckSubmit(const protocol::Submit& submit, const BrokerOptions& options);

// A BATCH: its id, budget (every limit finite, > 0 and at most 1e15), its labels (checked
// before they are copied into tasks), --max-batch-tasks, every task with the batch labels
// merged in (each within the caps), the dependency edges (--max-batch-edges) and what the
// batch would store in all: payloads and labels summed over its tasks, batch labels once per
// task that takes them, at most --max-frame-bytes (what one request could carry anyway, so
// copying cannot turn 1 MB on the wire into 210 MB in Redis). On success the batch labels
// are merged into the tasks (a task's own label wins).
Result<void> CheckBatch(protocol::BatchSpec& batch, const BrokerOptions& options);

// A fingerprint of a SUBMIT's or BATCH's body (16 hex digits, FNV-1a 64 of its canonical
// encoding with req_id and request_id left out, the command included), so that a request_id
// reused for another body is told from a resend. Call before the broker changes the message
// (ids, merged labels); it is left as it was.
std::string RequestDigest(protocol::Submit& submit);
std::string RequestDigest(protocol::Batch& batch);

// Caps on one READY: a valid worker id, at most 64 queues and 512 types, queues x types
// (x 1 with no types) at most --max-worker-claim-keys, concurrency at most 10,000, labels
// within 64 entries and --max-label-bytes, valid running ids, and --max-workers (a READY
// that replaces a registered worker or connection does not add one). `running` longer than
// `concurrency` is cut to `concurrency` ids (a worker holds at most one task per slot); the
// return value says how many were dropped.
Result<size_t> CheckReady(protocol::Ready& ready, const BrokerOptions& options,
                          size_t workers_registered, bool replaces_registered);

}  // namespace taskmill::broker
