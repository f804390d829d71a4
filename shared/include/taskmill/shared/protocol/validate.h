#pragma once

// Semantic checks on what clients submit, beyond what the decoder enforces. Shared so
// that client libraries and the CLI reject bad input before it leaves the machine, with
// the same words the broker would use.

#include <optional>
#include <string_view>

#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/messages.h"
#include "taskmill/shared/protocol/types.h"

namespace taskmill::protocol {

inline constexpr size_t kMaxNameLength = 128;

// Queue names, task types, batch-local names: [A-Za-z0-9_.-]{1,128}. These appear in
// Redis keys, so nothing else is allowed. `what` names the field in the error.
Result<void> ValidateName(std::string_view name, std::string_view what);

// A SUBMIT's or BATCH's request_id: 1 to kMaxRequestIdBytes printable ASCII bytes (0x20 to
// 0x7e). Clients send 32 hex digits of 128 random bits, one per logical request, the same
// on every resend. `what` names the field in the error.
inline constexpr size_t kMaxRequestIdBytes = 64;
Result<void> ValidateRequestId(std::string_view id, std::string_view what = "request_id");

// The largest payload any peer can carry: the decoder's max_bin (DecodeLimits).
inline constexpr size_t kMaxPayloadCeiling = 16u << 20;

// Label keys: 1 to 256 bytes (any bytes: they are hash fields, never key names).
inline constexpr size_t kMaxLabelKeyBytes = 256;
// Labels of one task or worker (keys + values): the decoder's max_str. A broker applies its
// own, smaller cap (--max-label-bytes, 64 KiB by default).
inline constexpr size_t kMaxLabelBytesCeiling = 1u << 20;
// The latest not_before_ms: 9999-12-31T23:59:59.999Z. Far below 2^53, so the store's
// scores and sums with durations stay exact (2^63-1 once wrapped negative and ran at once).
inline constexpr int64_t kMaxNotBeforeMs = 253'402'300'799'999;
// TaskSpec.delay_ms and expires_in_ms: at most 365 days (issue 22).
inline constexpr uint64_t kMaxDelayMs = 365ull * 24 * 3600 * 1000;
inline constexpr uint64_t kMaxExpiresInMs = 365ull * 24 * 3600 * 1000;
// TaskSpec.idempotency_ttl_ms and the broker's --idempotency-ttl: at most 30 days.
inline constexpr uint64_t kMaxIdempotencyTtlMs = 30ull * 24 * 3600 * 1000;

// PROGRESS (docs/protocol-messages.md): the message the broker stores and relays is cut to
// kMaxProgressMessageBytes (at a UTF-8 character boundary); the fraction is clamped to 0..1.
inline constexpr size_t kMaxProgressMessageBytes = 512;
// `message` cut to at most kMaxProgressMessageBytes bytes without splitting a UTF-8 sequence.
std::string_view TrimProgressMessage(std::string_view message);
// `fraction` clamped to 0..1; nullopt for NaN (a report that says nothing).
std::optional<double> ClampProgressFraction(double fraction);

struct SpecLimits {
  // Cap per task on the payload and the labels' bytes together (labels are stored with
  // the task like its payload). Clients know only this ceiling; a broker applies its own,
  // smaller cap (--max-payload-bytes, 8 MiB by default).
  size_t max_payload_bytes = kMaxPayloadCeiling;
  size_t max_label_bytes = kMaxLabelBytesCeiling;  // keys + values of one task's labels
  uint32_t max_attempts = 1000;                    // cap on max_attempts
  size_t max_labels = 64;
  size_t max_depends_on = 1000;
};

// Bytes of a label map as stored: every key and value.
size_t LabelBytes(const Labels& labels);

// At most max_labels entries, keys 1 to kMaxLabelKeyBytes bytes, keys + values at most
// max_bytes. `where` names the map (e.g. "tasks[3].labels").
Result<void> ValidateLabels(const Labels& labels, std::string_view where, size_t max_labels,
                            size_t max_bytes);

// Checks one spec; `where` prefixes messages (e.g. "tasks[3]").
Result<void> ValidateTaskSpec(const TaskSpec& spec, std::string_view where,
                              const SpecLimits& limits = {});

// Costs a worker reports: at most kMaxCostNames names (each a valid name), every value
// finite, >= 0 and <= kMaxCostValue, so sums stay finite and budgets cannot be dodged.
inline constexpr size_t kMaxCostNames = 64;
// Artifacts: at most kMaxArtifacts per attempt, names at most kMaxArtifactNameBytes.
inline constexpr size_t kMaxArtifacts = 256;
inline constexpr size_t kMaxArtifactNameBytes = 255;
// A relative path of '/'-separated names of [A-Za-z0-9_.-], none "." or "..": it can never
// leave the directory it is joined to.
Result<void> ValidateArtifactName(std::string_view name);
// Every name valid and unique, sha256 64 lowercase hex digits, an inline artifact's size its
// data's, a kept one's uri a file:// URI; at most kMaxArtifacts.
Result<void> ValidateArtifacts(const std::vector<Artifact>& artifacts, std::string_view where);
inline constexpr double kMaxCostValue = 1e15;
Result<void> ValidateCosts(const CostMap& cost, std::string_view where);

// A completion token (DONE completion_token, COMPLETE token): 128 random bits as exactly
// kCompletionTokenHex lowercase hex digits. The broker stores only its SHA-256.
inline constexpr size_t kCompletionTokenHex = 32;
// A polled task's state value (DONE poll_state), stored with the task between checks.
inline constexpr size_t kMaxPollStateBytes = 4096;
// The longest a polled attempt may keep polling when its DONE names no poll_max_ms.
inline constexpr uint32_t kDefaultPollMaxMs = 24u * 3600 * 1000;
Result<void> ValidateCompletionToken(std::string_view token, std::string_view where);

// A BatchSpec's on_failure: cancel_dependents, continue or fail_fast; anything else is
// kInvalidArgument naming the three. `where` names the field ("batch.on_failure").
Result<void> ValidateOnFailure(std::string_view value, std::string_view where);
// A BatchSpec's finally task: a valid spec (ValidateTaskSpec) with no depends_on, payload
// (its input is the batch summary), not_before_ms, idempotency_key or batch_id. `where`
// names it ("batch.finally").
Result<void> ValidateFinally(const TaskSpec& spec, std::string_view where,
                             const SpecLimits& limits = {});
// A BatchSpec that appends (append_to set): append_to a valid batch id, and none of id,
// budget, on_failure (other than its default) or finally, which belong to the batch; `where`
// prefixes the field ("batch"). A BatchSpec without append_to passes.
Result<void> ValidateBatchAppend(const BatchSpec& batch, std::string_view where);

// Periodic schedules (SCHEDULE add): a valid name; exactly one of a cron expression
// (CronExpr::Parse) and every_ms (kMinScheduleEveryMs to kMaxDurationMs); tz only with cron,
// an IANA-style zone name (the broker checks it names a zone it knows); catch_up "skip" or
// "once"; a task that ValidateTaskSpec accepts and that sets none of id, batch_id,
// depends_on, not_before_ms and idempotency_key (each tick gets its own). Run-state fields
// (paused, next_run_ms, ...) are ignored. `where` prefixes messages ("schedule").
inline constexpr uint64_t kMinScheduleEveryMs = 1000;
inline constexpr size_t kMaxTimeZoneBytes = 64;
Result<void> ValidateSchedule(const ScheduleInfo& schedule, std::string_view where,
                              const SpecLimits& limits = {});

// LIST (docs/protocol-messages.md 8.28): `what` "tasks" or "batches"; tasks: a valid queue
// and a state of ListableTaskStates() (every state of 7.10 but unknown), a valid type when
// given; batches: state "" or a batch state (running, succeeded, partial, failed), no queue
// or type; limit 1..kMaxListLimit; a cursor of at most kMaxListCursorBytes printable ASCII.
// Each message names what is allowed.
inline constexpr size_t kMaxListCursorBytes = 512;
std::vector<std::string_view> ListableTaskStates();
Result<void> ValidateList(const List& list);
// UPDATE: a valid task id; op "priority" (priority 0..255) or "promote" (priority 0).
Result<void> ValidateUpdate(const Update& update);

}  // namespace taskmill::protocol
