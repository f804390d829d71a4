#include "taskmill/shared/limit_spec.h"

#include <charconv>
#include <cmath>

#include "taskmill/shared/duration.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill {
namespace {

std::unexpected<Error> Bad(std::string_view what, std::string_view text, std::string_view allowed) {
  std::string shown(text.substr(0, 64));
  for (char& c : shown) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return MakeError(ErrorCode::kInvalidArgument,
                   std::string(what) + ": '" + shown + "' is not " + std::string(allowed));
}

// The period of a rate's unit, 0 if none.
int64_t PeriodMs(std::string_view unit) {
  if (unit == "s") return 1000;
  if (unit == "m") return 60'000;
  if (unit == "h") return 3'600'000;
  return 0;
}

std::string UnitText(int64_t period_ms) {
  return period_ms == 1000 ? "s" : period_ms == 60'000 ? "m" : "h";
}

std::string AmountText(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc{} ? std::string(buf, end) : std::to_string(v);
}

}  // namespace

Result<std::pair<uint64_t, int64_t>> ParseRate(std::string_view text, std::string_view what) {
  constexpr std::string_view kAllowed =
      "a rate: a whole number of tasks per s, m or h (100/s, 30/m, 1000/h)";
  size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0) return Bad(what, text, kAllowed);
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + slash, n);
  if (ec != std::errc{} || end != text.data() + slash) return Bad(what, text, kAllowed);
  int64_t period = PeriodMs(text.substr(slash + 1));
  if (period == 0) return Bad(what, text, kAllowed);
  if (n < 1 || n > kMaxLimitRate) {
    return Bad(what, text, "a rate of 1 to " + std::to_string(kMaxLimitRate) + " per period");
  }
  return std::pair{n, period};
}

Result<QueueLimits> ParseQueueLimits(const protocol::Limit& msg) {
  if (auto r = protocol::ValidateName(msg.queue, "queue"); !r) return std::unexpected(r.error());
  QueueLimits out;
  if (msg.clear) {
    if (!msg.rate.empty() || msg.concurrency != 0 || !msg.cost_rate.empty() ||
        !msg.key_label.empty() || !msg.aging.empty() || msg.round_robin) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "clear removes every limit of the queue: give it alone");
    }
    return out;
  }
  if (!msg.rate.empty()) {
    auto r = ParseRate(msg.rate, "rate");
    if (!r) return std::unexpected(r.error());
    out.rate_n = r->first;
    out.rate_ms = r->second;
  }
  out.concurrency = msg.concurrency;
  if (!msg.cost_rate.empty()) {
    constexpr std::string_view kAllowed =
        "a cost rate: NAME=AMOUNT/s|m|h (usd=5/h: stop claiming while usd spent over the last "
        "hour is 5 or more)";
    std::string_view t = msg.cost_rate;
    size_t eq = t.find('=');
    size_t slash = t.rfind('/');
    if (eq == std::string_view::npos || eq == 0 || slash == std::string_view::npos ||
        slash < eq + 2) {
      return Bad("cost-rate", t, kAllowed);
    }
    std::string name(t.substr(0, eq));
    if (auto r = protocol::ValidateName(name, "cost-rate name"); !r) {
      return std::unexpected(r.error());
    }
    double amount = 0;
    std::string_view num = t.substr(eq + 1, slash - eq - 1);
    auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), amount);
    if (ec != std::errc{} || end != num.data() + num.size() || !std::isfinite(amount) ||
        amount <= 0 || amount > 1e15) {
      return Bad("cost-rate", t,
                 "a cost rate NAME=AMOUNT/s|m|h with an AMOUNT above 0 and at most 1e15");
    }
    int64_t period = PeriodMs(t.substr(slash + 1));
    if (period == 0) return Bad("cost-rate", t, kAllowed);
    out.cost_name = std::move(name);
    out.cost_amount = amount;
    out.cost_ms = period;
  }
  if (!msg.key_label.empty()) {
    if (auto r = protocol::ValidateName(msg.key_label, "key-label"); !r) {
      return std::unexpected(r.error());
    }
    out.key_label = msg.key_label;
  }
  if (!msg.aging.empty()) {
    // The one duration parser of every new duration field (duration.h), and its error style.
    auto a = ParseDurationMs(msg.aging, "aging");
    if (!a) return std::unexpected(a.error());
    if (*a > static_cast<uint64_t>(kMaxAgingMs)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "aging: '" + msg.aging + "' is too long; at most 24h");
    }
    out.aging_ms = static_cast<int64_t>(*a);
  }
  out.round_robin = msg.round_robin;
  if (out.round_robin && out.key_label.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "round-robin takes turns between the values of a label: give key-label");
  }
  if (out.round_robin && out.aging_ms > 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "round-robin and aging cannot be combined (one orders by label turns, the "
                     "other by waiting time): choose one");
  }
  if (out.rate_n == 0 && out.concurrency == 0 && out.cost_ms == 0 && out.aging_ms == 0 &&
      !out.round_robin) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "give at least one of rate, concurrency, cost-rate, aging, round-robin "
                     "(or clear)");
  }
  return out;
}

std::string QueueLimits::Text() const {
  std::string s;
  auto add = [&s](const std::string& part) {
    if (!s.empty()) s += ' ';
    s += part;
  };
  if (rate_n > 0) add("rate=" + std::to_string(rate_n) + "/" + UnitText(rate_ms));
  if (concurrency > 0) add("concurrency=" + std::to_string(concurrency));
  if (cost_ms > 0) add("cost-rate=" + cost_name + "=" + AmountText(cost_amount) + "/" +
                       UnitText(cost_ms));
  if (!key_label.empty()) add("key=" + key_label);
  if (aging_ms > 0) add("aging=" + FormatDurationMs(static_cast<uint64_t>(aging_ms)));
  if (round_robin) add("round-robin");
  return s;
}

}  // namespace taskmill
