// Decoding: the field tables in fields.h, read through the bounded MsgpackReader.
// Unknown keys are skipped, nil counts as absent, required keys must be present.

#include <cmath>
#include <limits>

#include "protocol/fields.h"
#include "protocol/msgpack_reader.h"
#include "taskmill/shared/protocol/codec.h"

namespace taskmill::protocol {
namespace {

template <class T>
Result<void> DecodeObject(MsgpackReader& r, const FieldPath& path, T& out);

std::unexpected<Error> Invalid(const FieldPath& path, const std::string& what) {
  return MakeError(ErrorCode::kInvalidArgument, path.ToString() + ": " + what);
}

// The wire names of an enum's values, in order ("a, b, c"): its values are 0, 1, ... and
// its name function returns a value's name (the first one's past the last value).
template <class E>
std::string AllowedNames(const char* (*name)(E), std::optional<E> (*parse)(std::string_view)) {
  std::string out;
  for (int i = 0; i < 64; ++i) {
    const char* n = name(static_cast<E>(i));
    auto back = parse(n);
    if (!back || static_cast<int>(*back) != i) break;
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

// Matches one map key against a field table and reads its value into the field.
class DecodeVisitor {
 public:
  DecodeVisitor(MsgpackReader& r, std::string_view key, const FieldPath& path)
      : r_(r), key_(key), path_(path) {}

  int matched() const { return matched_; }
  const Result<void>& status() const { return status_; }

  void Str(const char* k, std::string& f, std::string_view = "", Req = Req::kNo) {
    if (!Match(k)) return;
    if (auto s = r_.Str(path_)) {
      f.assign(*s);
    } else {
      status_ = std::unexpected(s.error());
    }
  }
  void Bin(const char* k, std::string& f, Req = Req::kNo) {
    if (!Match(k)) return;
    if (auto s = r_.Bytes(path_)) {
      f.assign(*s);
    } else {
      status_ = std::unexpected(s.error());
    }
  }
  template <class T>
  void Uint(const char* k, T& f, std::type_identity_t<T> = 0, Req = Req::kNo) {
    if (!Match(k)) return;
    auto v = r_.Uint(path_);
    if (!v) {
      status_ = std::unexpected(v.error());
    } else if (*v > std::numeric_limits<T>::max()) {
      status_ = Invalid(path_, std::to_string(*v) + " is over the maximum of " +
                                   std::to_string(std::numeric_limits<T>::max()));
    } else {
      f = static_cast<T>(*v);
    }
  }
  template <class T>
  void Int(const char* k, T& f, std::type_identity_t<T> = 0, Req = Req::kNo) {
    if (!Match(k)) return;
    ReadInt(f);
  }
  void Double(const char* k, double& f, double = 0, Req = Req::kNo) {
    if (!Match(k)) return;
    ReadDouble(path_, f);
  }
  void Bool(const char* k, bool& f, bool = false, Req = Req::kNo) {
    if (!Match(k)) return;
    if (auto v = r_.Bool(path_)) {
      f = *v;
    } else {
      status_ = std::unexpected(v.error());
    }
  }
  void StrList(const char* k, std::vector<std::string>& f, Req = Req::kNo) {
    if (!Match(k)) return;
    ReadArray([&](const FieldPath& p) -> Result<void> {
      auto s = r_.Str(p);
      if (!s) return std::unexpected(s.error());
      f.emplace_back(*s);
      return {};
    });
  }
  void StrMap(const char* k, std::map<std::string, std::string>& f) {
    if (!Match(k)) return;
    ReadMap([&](std::string key, const FieldPath& p) -> Result<void> {
      auto s = r_.Str(p);
      if (!s) return std::unexpected(s.error());
      f[std::move(key)] = *s;
      return {};
    });
  }
  void CostMap(const char* k, std::map<std::string, double>& f) {
    if (!Match(k)) return;
    ReadMap([&](std::string key, const FieldPath& p) -> Result<void> {
      double v = 0;
      if (!ReadDouble(p, v)) return status_;
      f[std::move(key)] = v;
      return {};
    });
  }
  void BinMap(const char* k, std::map<std::string, std::string>& f) {
    if (!Match(k)) return;
    ReadMap([&](std::string key, const FieldPath& p) -> Result<void> {
      auto s = r_.Bytes(p);
      if (!s) return std::unexpected(s.error());
      f[std::move(key)] = *s;
      return {};
    });
  }
  void UintMap(const char* k, std::map<std::string, uint32_t>& f) {
    if (!Match(k)) return;
    ReadMap([&](std::string key, const FieldPath& p) -> Result<void> {
      auto v = r_.Uint(p);
      if (!v) return std::unexpected(v.error());
      if (*v > std::numeric_limits<uint32_t>::max()) return Invalid(p, "over 32 bits");
      f[std::move(key)] = static_cast<uint32_t>(*v);
      return {};
    });
  }
  template <class T>
  void Obj(const char* k, T& f, Req = Req::kNo) {
    if (!Match(k)) return;
    status_ = DecodeObject(r_, path_, f);
  }
  template <class T>
  void ObjList(const char* k, std::vector<T>& f, Req = Req::kNo) {
    if (!Match(k)) return;
    ReadArray([&](const FieldPath& p) -> Result<void> {
      // No reserve from the declared count: memory follows the bytes actually decoded.
      f.emplace_back();
      return DecodeObject(r_, p, f.back());
    });
  }
  template <class T>
  void OptObj(const char* k, std::optional<T>& f) {
    if (!Match(k)) return;
    f.emplace();
    status_ = DecodeObject(r_, path_, *f);
  }
  void OptInt(const char* k, std::optional<int32_t>& f) {
    if (!Match(k)) return;
    int32_t v = 0;
    if (ReadInt(v)) f = v;
  }
  template <class E>
  void Enum(const char* k, E& f, E, const char* (*name)(E),
            std::optional<E> (*parse)(std::string_view),
            Req = Req::kNo) {
    if (!Match(k)) return;
    auto s = r_.Str(path_);
    if (!s) {
      status_ = std::unexpected(s.error());
      return;
    }
    auto v = parse(*s);
    if (!v) {
      status_ = Invalid(path_, "unknown value '" + std::string(*s) + "' (allowed: " +
                                   AllowedNames(name, parse) + ")");
      return;
    }
    f = *v;
  }

 private:
  bool Match(const char* k) {
    ++index_;
    if (matched_ >= 0 || key_ != k) return false;
    matched_ = index_;
    return true;
  }
  template <class T>
  bool ReadInt(T& f) {
    auto v = r_.Int(path_);
    if (!v) {
      status_ = std::unexpected(v.error());
      return false;
    }
    if (*v < std::numeric_limits<T>::min() || *v > std::numeric_limits<T>::max()) {
      status_ = Invalid(path_, std::to_string(*v) + " is out of range");
      return false;
    }
    f = static_cast<T>(*v);
    return true;
  }
  bool ReadDouble(const FieldPath& p, double& f) {
    auto v = r_.Double(p);
    if (!v) {
      status_ = std::unexpected(v.error());
      return false;
    }
    if (!std::isfinite(*v)) {
      status_ = Invalid(p, "must be a finite number");
      return false;
    }
    f = *v;
    return true;
  }
  template <class F>
  void ReadArray(F&& element) {
    auto n = r_.ArrayHeader(path_);
    if (!n) {
      status_ = std::unexpected(n.error());
      return;
    }
    for (uint32_t i = 0; i < *n; ++i) {
      FieldPath p{&path_, {}, i};
      if (auto s = element(p); !s) {
        status_ = s;
        return;
      }
    }
    r_.Leave();
  }
  template <class F>
  void ReadMap(F&& entry) {
    auto n = r_.MapHeader(path_);
    if (!n) {
      status_ = std::unexpected(n.error());
      return;
    }
    for (uint32_t i = 0; i < *n; ++i) {
      auto key = r_.Str(path_);
      if (!key) {
        status_ = std::unexpected(key.error());
        return;
      }
      FieldPath p{&path_, *key};
      if (auto s = entry(std::string(*key), p); !s) {
        status_ = s;
        return;
      }
    }
    r_.Leave();
  }

  MsgpackReader& r_;
  std::string_view key_;   // the map key being decoded
  const FieldPath& path_;  // its path, for errors
  int index_ = -1;         // ordinal of the field the table is visiting
  int matched_ = -1;       // ordinal of the field that matched key_, or -1
  Result<void> status_;    // first error while reading the value
};

// After a map is read: names the first required field that was not seen.
class RequiredCheck {
 public:
  explicit RequiredCheck(uint64_t seen) : seen_(seen) {}
  const char* missing() const { return missing_; }

  template <class... A>
  void Str(const char* k, A&&... a) {
    Check(k, a...);
  }
  template <class... A>
  void Bin(const char* k, A&&... a) {
    Check(k, a...);
  }
  template <class... A>
  void Uint(const char* k, A&&... a) {
    Check(k, a...);
  }
  template <class... A>
  void Int(const char* k, A&&... a) {
    Check(k, a...);
  }
  template <class... A>
  void Double(const char* k, A&&... a) {
    Check(k, a...);
  }
  template <class... A>
  void Bool(const char* k, A&&... a) {
    Check(k, a...);
  }
  template <class... A>
  void StrList(const char* k, A&&... a) {
    Check(k, a...);
  }
  template <class... A>
  void StrMap(const char* k, A&&... a) {
    Check(k, a...);
  }
  template <class... A>
  void CostMap(const char* k, A&&... a) {
    Check(k, a...);
  }
  template <class... A>
  void BinMap(const char* k, A&&... a) {
    Check(k, a...);
  }
  template <class... A>
  void UintMap(const char* k, A&&... a) {
    Check(k, a...);
  }
  template <class... A>
  void Obj(const char* k, A&&... a) {
    Check(k, a...);
  }
  template <class... A>
  void ObjList(const char* k, A&&... a) {
    Check(k, a...);
  }
  template <class... A>
  void OptObj(const char* k, A&&... a) {
    Check(k, a...);
  }
  template <class... A>
  void OptInt(const char* k, A&&... a) {
    Check(k, a...);
  }
  template <class... A>
  void Enum(const char* k, A&&... a) {
    Check(k, a...);
  }

 private:
  // The Req flag, when given, is always the last argument.
  template <class... A>
  void Check(const char* k, A&&... a) {
    ++index_;
    bool required = false;
    (
        [&] {
          if constexpr (std::is_same_v<std::decay_t<A>, Req>) required = a == Req::kYes;
        }(),
        ...);
    if (required && missing_ == nullptr && (seen_ & (uint64_t{1} << index_)) == 0) missing_ = k;
  }

  uint64_t seen_;                  // bit i set iff field i was present
  int index_ = -1;                 // ordinal of the field being visited
  const char* missing_ = nullptr;  // first required field not seen
};

template <class T>
Result<void> DecodeObject(MsgpackReader& r, const FieldPath& path, T& out) {
  auto n = r.MapHeader(path);
  if (!n) return std::unexpected(n.error());
  uint64_t seen = 0;
  for (uint32_t i = 0; i < *n; ++i) {
    auto key = r.Str(path);
    if (!key) return std::unexpected(key.error());
    FieldPath field{&path, *key};
    if (r.ConsumeNil()) continue;  // nil means absent
    DecodeVisitor v(r, *key, field);
    Fields(v, out);
    if (!v.status()) return v.status();
    if (v.matched() >= 0) {
      seen |= uint64_t{1} << v.matched();
    } else if (auto s = r.Skip(field); !s) {
      return s;
    }
  }
  r.Leave();
  RequiredCheck check(seen);
  Fields(check, out);
  if (check.missing() != nullptr) {
    std::string where = path.ToString();
    return MakeError(ErrorCode::kMissingField, (where.empty() ? std::string("body") : where) +
                                                   ": missing required field '" + check.missing() +
                                                   "'");
  }
  return {};
}

template <class T>
Result<Message> DecodeAs(std::string_view body, const DecodeLimits& limits) {
  MsgpackReader r(body, limits);
  T out;
  FieldPath root;
  if (auto s = DecodeObject(r, root, out); !s) return std::unexpected(s.error());
  if (!r.AtEnd()) return MakeError(ErrorCode::kBadFrame, "body: trailing bytes after the map");
  return Message(std::move(out));
}

}  // namespace

Result<Message> DecodeBody(Command command, std::string_view body, const DecodeLimits& limits) {
  if (body.size() > limits.max_frame_bytes) {
    return MakeError(ErrorCode::kBadFrame, "body of " + std::to_string(body.size()) +
                                               " bytes is over the limit of " +
                                               std::to_string(limits.max_frame_bytes));
  }
  switch (command) {
    case Command::kSubmit:
      return DecodeAs<Submit>(body, limits);
    case Command::kBatch:
      return DecodeAs<Batch>(body, limits);
    case Command::kWait:
      return DecodeAs<Wait>(body, limits);
    case Command::kGet:
      return DecodeAs<Get>(body, limits);
    case Command::kCancel:
      return DecodeAs<Cancel>(body, limits);
    case Command::kSubscribe:
      return DecodeAs<Subscribe>(body, limits);
    case Command::kStats:
      return DecodeAs<Stats>(body, limits);
    case Command::kDlq:
      return DecodeAs<Dlq>(body, limits);
    case Command::kComplete:
      return DecodeAs<Complete>(body, limits);
    case Command::kSchedule:
      return DecodeAs<Schedule>(body, limits);
    case Command::kLimit:
      return DecodeAs<Limit>(body, limits);
    case Command::kList:
      return DecodeAs<List>(body, limits);
    case Command::kUpdate:
      return DecodeAs<Update>(body, limits);
    case Command::kQueue:
      return DecodeAs<QueueAdmin>(body, limits);
    case Command::kWorker:
      return DecodeAs<WorkerAdmin>(body, limits);
    case Command::kReply:
      return DecodeAs<Reply>(body, limits);
    case Command::kResult:
      return DecodeAs<ResultMsg>(body, limits);
    case Command::kEvent:
      return DecodeAs<Event>(body, limits);
    case Command::kReady:
      return DecodeAs<Ready>(body, limits);
    case Command::kHeartbeat:
      return DecodeAs<Heartbeat>(body, limits);
    case Command::kDone:
      return DecodeAs<Done>(body, limits);
    case Command::kProgress:
      return DecodeAs<Progress>(body, limits);
    case Command::kBye:
      return DecodeAs<Bye>(body, limits);
    case Command::kTask:
      return DecodeAs<TaskMsg>(body, limits);
    case Command::kCancelTask:
      return DecodeAs<CancelTask>(body, limits);
    case Command::kBrokerHeartbeat:
      return DecodeAs<BrokerHeartbeat>(body, limits);
    case Command::kDrain:
      return DecodeAs<Drain>(body, limits);
    case Command::kGoaway:
      return DecodeAs<Goaway>(body, limits);
    case Command::kMove:
      return DecodeAs<Move>(body, limits);
  }
  return MakeError(ErrorCode::kUnknownCommand,
                   "unknown command byte " + std::to_string(static_cast<int>(command)));
}

Result<TaskSpec> DecodeTaskSpec(std::string_view bytes, const DecodeLimits& limits) {
  MsgpackReader r(bytes, limits);
  TaskSpec spec;
  FieldPath root;
  if (auto s = DecodeObject(r, root, spec); !s) return std::unexpected(s.error());
  if (!r.AtEnd()) return MakeError(ErrorCode::kBadFrame, "task spec: trailing bytes");
  return spec;
}

}  // namespace taskmill::protocol
