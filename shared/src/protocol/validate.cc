#include "taskmill/shared/protocol/validate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace taskmill::protocol {
namespace {

// `what` names a field inside `where` ("tasks[0]" + "payload: ..." is "tasks[0].payload: ...").
std::unexpected<Error> Invalid(std::string_view where, const std::string& what) {
  std::string msg(where);
  if (!msg.empty()) msg += ".";
  return MakeError(ErrorCode::kInvalidArgument, msg + what);
}

// `field` is the field itself: "field: what is wrong", as ValidateName says it.
std::unexpected<Error> InvalidField(std::string_view field, const std::string& what) {
  return MakeError(ErrorCode::kInvalidArgument, std::string(field) + ": " + what);
}

// The characters of a name (ValidateName) and of each component of an artifact's path.
bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

}  // namespace

Result<void> ValidateName(std::string_view name, std::string_view what) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string(what) + ": must be 1 to " + std::to_string(kMaxNameLength) +
                         " characters, got " + std::to_string(name.size()));
  }
  if (name == "." || name == "..") {
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string(what) + ": '" + std::string(name) + "' is not a usable name");
  }
  for (char c : name) {
    if (!NameChar(c)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       std::string(what) + ": '" + std::string(name) +
                           "' may contain only letters, digits, '_', '.' and '-'");
    }
  }
  return {};
}

Result<void> ValidateRequestId(std::string_view id, std::string_view what) {
  if (id.empty() || id.size() > kMaxRequestIdBytes) {
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string(what) + ": must be 1 to " + std::to_string(kMaxRequestIdBytes) +
                         " bytes, got " + std::to_string(id.size()));
  }
  for (size_t i = 0; i < id.size(); ++i) {
    auto c = static_cast<unsigned char>(id[i]);
    if (c < 0x20 || c > 0x7e) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", c);
      return MakeError(ErrorCode::kInvalidArgument,
                       std::string(what) + ": byte " + std::to_string(i) + " (" + hex +
                           ") is not printable ASCII (allowed: 0x20 to 0x7e)");
    }
  }
  return {};
}

Result<void> ValidateArtifactName(std::string_view name) {
  auto bad = [&](const std::string& why) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "artifact name '" + std::string(name.substr(0, 300)) + "' " + why);
  };
  if (name.empty() || name.size() > kMaxArtifactNameBytes) {
    return bad("must be 1 to " + std::to_string(kMaxArtifactNameBytes) + " bytes");
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    std::string_view part =
        name.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty()) return bad("has an empty path component (a leading, trailing or double '/')");
    if (part == "." || part == "..") return bad("has a '" + std::string(part) + "' component");
    for (char c : part) {
      if (!NameChar(c)) {
        return bad("may contain only letters, digits, '_', '.', '-' and '/' between names");
      }
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return {};
}

Result<void> ValidateArtifacts(const std::vector<Artifact>& artifacts, std::string_view where) {
  if (artifacts.size() > kMaxArtifacts) {
    return InvalidField(where, std::to_string(artifacts.size()) + " artifacts is over the limit of " +
                              std::to_string(kMaxArtifacts));
  }
  std::vector<std::string_view> names;
  for (const auto& a : artifacts) {
    if (auto ok = ValidateArtifactName(a.name); !ok) return InvalidField(where, ok.error().message);
    names.push_back(a.name);
    bool hex = a.sha256.size() == 64;
    for (char c : a.sha256) hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    if (!hex) return InvalidField(where, a.name + ": sha256 must be 64 lowercase hex digits");
    if (a.uri.empty() && a.data.size() != a.size) {
      return InvalidField(where, a.name + ": an inline artifact's size must be its data's");
    }
    if (!a.uri.empty() && (!a.uri.starts_with("file:///") || !a.data.empty())) {
      return InvalidField(where, a.name + ": a kept artifact has a file:// uri and no data");
    }
  }
  std::sort(names.begin(), names.end());
  if (std::adjacent_find(names.begin(), names.end()) != names.end()) {
    return InvalidField(where, "two artifacts have the same name");
  }
  return {};
}

Result<void> ValidateCompletionToken(std::string_view token, std::string_view where) {
  bool hex = token.size() == kCompletionTokenHex;
  for (char c : token) hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!hex) {
    return InvalidField(where, "a completion token is " + std::to_string(kCompletionTokenHex) +
                              " lowercase hex digits, got " + std::to_string(token.size()) +
                              " bytes that are not");
  }
  return {};
}

size_t LabelBytes(const Labels& labels) {
  size_t n = 0;
  for (const auto& [k, v] : labels) n += k.size() + v.size();
  return n;
}

Result<void> ValidateLabels(const Labels& labels, std::string_view where, size_t max_labels,
                            size_t max_bytes) {
  std::string w(where);
  if (labels.size() > max_labels) {
    return MakeError(ErrorCode::kInvalidArgument,
                     w + ": " + std::to_string(labels.size()) + " labels is over the limit of " +
                         std::to_string(max_labels));
  }
  for (const auto& [k, v] : labels) {
    if (k.empty() || k.size() > kMaxLabelKeyBytes) {
      return MakeError(ErrorCode::kInvalidArgument,
                       w + ": a key of " + std::to_string(k.size()) +
                           " bytes is out of range (allowed: 1.." +
                           std::to_string(kMaxLabelKeyBytes) + " bytes)");
    }
  }
  if (size_t bytes = LabelBytes(labels); bytes > max_bytes) {
    return MakeError(ErrorCode::kInvalidArgument,
                     w + ": " + std::to_string(bytes) +
                         " bytes (keys and values) is over the limit of " +
                         std::to_string(max_bytes));
  }
  return {};
}

Result<void> ValidateTaskSpec(const TaskSpec& spec, std::string_view where,
                              const SpecLimits& limits) {
  std::string prefix(where);
  if (!prefix.empty()) prefix += ".";
  if (auto r = ValidateName(spec.type, prefix + "type"); !r) return r;
  if (auto r = ValidateName(spec.queue, prefix + "queue"); !r) return r;
  if (!spec.name.empty()) {
    if (auto r = ValidateName(spec.name, prefix + "name"); !r) return r;
  }
  if (!spec.id.empty()) {
    if (auto r = ValidateName(spec.id, prefix + "id"); !r) return r;
  }
  if (spec.payload.size() > limits.max_payload_bytes) {
    return Invalid(where, "payload: " + std::to_string(spec.payload.size()) +
                              " bytes is over the limit of " +
                              std::to_string(limits.max_payload_bytes));
  }
  if (spec.max_attempts < 1 || spec.max_attempts > limits.max_attempts) {
    return Invalid(where, "max_attempts: " + std::to_string(spec.max_attempts) +
                              " is out of range (allowed: 1.." +
                              std::to_string(limits.max_attempts) + ")");
  }
  if (spec.backoff.multiplier < 1.0 || spec.backoff.multiplier > 100.0) {
    return Invalid(where, "backoff.multiplier: must be between 1 and 100");
  }
  if (spec.backoff.base_ms > spec.backoff.max_ms) {
    return Invalid(where, "backoff: base_ms " + std::to_string(spec.backoff.base_ms) +
                              " is greater than max_ms " + std::to_string(spec.backoff.max_ms));
  }
  if (spec.idempotency_key.size() > 256) {
    return Invalid(where, "idempotency_key: longer than 256 bytes");
  }
  if (auto r = ValidateLabels(spec.labels, prefix + "labels", limits.max_labels,
                              limits.max_label_bytes);
      !r) {
    return r;
  }
  // Labels are stored with the task like its payload: both count against the one cap.
  if (size_t labels = LabelBytes(spec.labels);
      spec.payload.size() + labels > limits.max_payload_bytes) {
    return Invalid(where, "labels: " + std::to_string(labels) + " bytes with a payload of " +
                              std::to_string(spec.payload.size()) +
                              " bytes is over the limit of " +
                              std::to_string(limits.max_payload_bytes) +
                              " (payload and labels count together)");
  }
  if (spec.depends_on.size() > limits.max_depends_on) {
    return Invalid(where, "depends_on: more than " + std::to_string(limits.max_depends_on));
  }
  for (size_t i = 0; i < spec.depends_on.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (spec.depends_on[i] == spec.depends_on[j]) {
        return Invalid(where, "depends_on: '" + spec.depends_on[i] + "' is listed twice");
      }
    }
  }
  if (spec.not_before_ms < 0 || spec.not_before_ms > kMaxNotBeforeMs) {
    return Invalid(where, "not_before_ms: " + std::to_string(spec.not_before_ms) +
                              " is out of range (allowed: 0.." + std::to_string(kMaxNotBeforeMs) +
                              ", 9999-12-31; 0: now)");
  }
  if (spec.delay_ms > kMaxDelayMs) {
    return Invalid(where, "delay_ms: " + std::to_string(spec.delay_ms) +
                              " is out of range (allowed: 0.." + std::to_string(kMaxDelayMs) +
                              ", 365 days; 0: none)");
  }
  if (spec.delay_ms != 0 && spec.not_before_ms != 0) {
    return Invalid(where,
                   "delay_ms and not_before_ms: set one or the other (a relative delay or an "
                   "absolute time), not both");
  }
  if (spec.expires_in_ms > kMaxExpiresInMs) {
    return Invalid(where, "expires_in_ms: " + std::to_string(spec.expires_in_ms) +
                              " is out of range (allowed: 0.." + std::to_string(kMaxExpiresInMs) +
                              ", 365 days; 0: never)");
  }
  if (spec.idempotency_ttl_ms > kMaxIdempotencyTtlMs) {
    return Invalid(where, "idempotency_ttl_ms: " + std::to_string(spec.idempotency_ttl_ms) +
                              " is out of range (allowed: 0.." +
                              std::to_string(kMaxIdempotencyTtlMs) +
                              ", 30 days; 0: the broker's --idempotency-ttl)");
  }
  if (spec.idempotency_ttl_ms != 0 && spec.idempotency_key.empty()) {
    return Invalid(where, "idempotency_ttl_ms: needs an idempotency_key (it is that key's TTL)");
  }
  return {};
}

Result<void> ValidateCosts(const CostMap& cost, std::string_view where) {
  if (cost.size() > kMaxCostNames) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        std::string(where) + ": more than " + std::to_string(kMaxCostNames) + " cost names");
  }
  for (const auto& [name, value] : cost) {
    if (auto r = ValidateName(name, std::string(where) + " name"); !r) return r;
    if (!std::isfinite(value) || value < 0 || value > kMaxCostValue) {
      return MakeError(ErrorCode::kInvalidArgument, std::string(where) + "." + name + ": " +
                                                        std::to_string(value) +
                                                        " is not a cost (allowed: 0 to 1e15)");
    }
  }
  return {};
}

Result<void> ValidateOnFailure(std::string_view value, std::string_view where) {
  if (value == kOnFailureCancelDependents || value == kOnFailureContinue ||
      value == kOnFailureFailFast) {
    return {};
  }
  return MakeError(ErrorCode::kInvalidArgument,
                   std::string(where) + ": unknown value '" + std::string(value) +
                       "' (allowed: cancel_dependents, continue, fail_fast)");
}

Result<void> ValidateFinally(const TaskSpec& spec, std::string_view where,
                             const SpecLimits& limits) {
  auto bad = [&](std::string_view field, std::string_view why) -> Result<void> {
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string(where) + "." + std::string(field) + ": " + std::string(why));
  };
  if (!spec.depends_on.empty()) {
    return bad("depends_on", "must be empty (the finally task runs after every other task)");
  }
  if (!spec.payload.empty()) {
    return bad("payload", "must be empty (the finally task's input is the batch summary)");
  }
  if (spec.not_before_ms != 0) {
    return bad("not_before_ms", "must be 0 (it runs when the batch ends)");
  }
  if (!spec.idempotency_key.empty()) return bad("idempotency_key", "must be empty");
  if (!spec.batch_id.empty()) return bad("batch_id", "must be empty");
  return ValidateTaskSpec(spec, where, limits);
}

Result<void> ValidateBatchAppend(const BatchSpec& batch, std::string_view where) {
  if (batch.append_to.empty()) return {};
  std::string at(where);
  if (auto r = ValidateName(batch.append_to, at + ".append_to"); !r) return r;
  auto unset = [&](std::string_view field) -> Result<void> {
    return MakeError(ErrorCode::kInvalidArgument,
                     at + "." + std::string(field) +
                         ": must be unset when append_to is set (the batch's own applies)");
  };
  if (!batch.id.empty()) return unset("id");
  if (!batch.budget.empty()) return unset("budget");
  if (batch.on_failure != kOnFailureCancelDependents) return unset("on_failure");
  if (batch.finally) return unset("finally");
  return {};
}

std::string_view TrimProgressMessage(std::string_view message) {
  if (message.size() <= kMaxProgressMessageBytes) return message;
  size_t end = kMaxProgressMessageBytes;
  // Back off continuation bytes (10xxxxxx) so the cut falls before a character's first byte.
  while (end > 0 && (static_cast<unsigned char>(message[end]) & 0xC0) == 0x80) --end;
  return message.substr(0, end);
}

std::optional<double> ClampProgressFraction(double fraction) {
  if (std::isnan(fraction)) return std::nullopt;
  return std::clamp(fraction, 0.0, 1.0);
}

}  // namespace taskmill::protocol
