// Encoding: msgpack-cxx's packer writes the bytes (smallest integer forms; a double as an
// integer when it is integral, else float64: see PackDouble); the field tables in fields.h
// decide which fields and in what order.

#include <bit>
#include <cmath>
#include <cstdint>
#include <msgpack.hpp>

#include "protocol/fields.h"
#include "taskmill/shared/protocol/codec.h"

namespace taskmill::protocol {
namespace {

// msgpack-cxx writes to any type with write(const char*, size_t).
class StringSink {
 public:
  explicit StringSink(std::string& out) : out_(out) {}
  void write(const char* data, size_t size) { out_.append(data, size); }

 private:
  std::string& out_;
};
using Packer = msgpack::packer<StringSink>;

void PackStr(Packer& p, std::string_view s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

void PackBin(Packer& p, std::string_view s) {
  p.pack_bin(static_cast<uint32_t>(s.size()));
  p.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
}

// msgpack-cxx 4.x writes an integral double as the smallest integer form and any other
// as float64; that is the canonical form the vectors hold (docs/protocol.md). Its own
// check converts 2^64 to uint64_t, which is undefined behaviour (found by the decode
// fuzzer: a uint64 max in a double field decodes to 2^64). Same bytes, no UB: integral
// values in [-2^63, 2^64) as integers, everything else as float64.
void PackDouble(Packer& p, double d) {
  constexpr double kTwo63 = 9223372036854775808.0;
  if (d == std::trunc(d)) {  // false for NaN; the infinities fail both range checks
    if (d >= 0 && d < 2 * kTwo63) {
      p.pack_uint64(static_cast<uint64_t>(d));  // -0.0 too: written as 0
      return;
    }
    if (d < 0 && d >= -kTwo63) {
      p.pack_int64(static_cast<int64_t>(d));
      return;
    }
  }
  // float64 written by hand: pack_double would run the undefined conversion again.
  // pack_str_body appends bytes as they are (it writes no header).
  auto bits = std::bit_cast<uint64_t>(d);
  char buf[9];
  buf[0] = static_cast<char>(0xcb);
  for (int i = 0; i < 8; ++i) buf[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
  p.pack_str_body(buf, sizeof buf);
}

template <class T>
void EncodeObject(Packer& p, const T& x);

// Walks a field table. With no packer it only counts the fields that will be written
// (msgpack needs the map size first); with one it writes them.
class EncodeVisitor {
 public:
  explicit EncodeVisitor(Packer* packer) : p_(packer) {}
  uint32_t count() const { return count_; }

  void Str(const char* k, const std::string& f, std::string_view d = "", Req r = Req::kNo) {
    if (Want(k, r, f == d)) PackStr(*p_, f);
  }
  void Bin(const char* k, const std::string& f, Req r = Req::kNo) {
    if (Want(k, r, f.empty())) PackBin(*p_, f);
  }
  template <class T>
  void Uint(const char* k, const T& f, std::type_identity_t<T> d = 0, Req r = Req::kNo) {
    if (Want(k, r, f == d)) p_->pack_uint64(f);
  }
  template <class T>
  void Int(const char* k, const T& f, std::type_identity_t<T> d = 0, Req r = Req::kNo) {
    if (Want(k, r, f == d)) p_->pack_int64(f);
  }
  void Double(const char* k, const double& f, double d = 0, Req r = Req::kNo) {
    if (Want(k, r, f == d)) PackDouble(*p_, f);
  }
  void Bool(const char* k, const bool& f, bool d = false, Req r = Req::kNo) {
    if (!Want(k, r, f == d)) return;
    if (f) {
      p_->pack_true();
    } else {
      p_->pack_false();
    }
  }
  void StrList(const char* k, const std::vector<std::string>& f, Req r = Req::kNo) {
    if (!Want(k, r, f.empty())) return;
    p_->pack_array(static_cast<uint32_t>(f.size()));
    for (const auto& s : f) PackStr(*p_, s);
  }
  void StrMap(const char* k, const std::map<std::string, std::string>& f) {
    PackMap(k, f, [this](const std::string& v) { PackStr(*p_, v); });
  }
  void CostMap(const char* k, const std::map<std::string, double>& f) {
    PackMap(k, f, [this](double v) { PackDouble(*p_, v); });
  }
  void BinMap(const char* k, const std::map<std::string, std::string>& f) {
    PackMap(k, f, [this](const std::string& v) { PackBin(*p_, v); });
  }
  void UintMap(const char* k, const std::map<std::string, uint32_t>& f) {
    PackMap(k, f, [this](uint32_t v) { p_->pack_uint64(v); });
  }
  template <class T>
  void Obj(const char* k, const T& f, Req r = Req::kNo) {
    if (Want(k, r, f == T{})) EncodeObject(*p_, f);
  }
  template <class T>
  void ObjList(const char* k, const std::vector<T>& f, Req r = Req::kNo) {
    if (!Want(k, r, f.empty())) return;
    p_->pack_array(static_cast<uint32_t>(f.size()));
    for (const auto& x : f) EncodeObject(*p_, x);
  }
  template <class T>
  void OptObj(const char* k, const std::optional<T>& f) {
    if (Want(k, Req::kNo, !f.has_value())) EncodeObject(*p_, *f);
  }
  void OptInt(const char* k, const std::optional<int32_t>& f) {
    if (Want(k, Req::kNo, !f.has_value())) p_->pack_int64(*f);
  }
  template <class E>
  void Enum(const char* k, const E& f, E d, const char* (*name)(E),
            std::optional<E> (*)(std::string_view), Req r = Req::kNo) {
    if (Want(k, r, f == d)) PackStr(*p_, name(f));
  }

 private:
  // Counts the field if it is to be written; when writing, writes its key and returns
  // true so the caller writes the value.
  bool Want(const char* key, Req r, bool is_default) {
    if (r == Req::kNo && is_default) return false;
    ++count_;
    if (p_ == nullptr) return false;
    PackStr(*p_, key);
    return true;
  }
  template <class M, class F>
  void PackMap(const char* k, const M& f, F&& pack_value) {
    if (!Want(k, Req::kNo, f.empty())) return;
    p_->pack_map(static_cast<uint32_t>(f.size()));
    for (const auto& [key, value] : f) {
      PackStr(*p_, key);
      pack_value(value);
    }
  }

  Packer* p_;           // null while counting
  uint32_t count_ = 0;  // fields counted or written so far
};

template <class T>
void EncodeObject(Packer& p, const T& x) {
  EncodeVisitor counter(nullptr);
  Fields(counter, x);
  p.pack_map(counter.count());
  EncodeVisitor writer(&p);
  Fields(writer, x);
}

}  // namespace

std::string EncodeBody(const Message& msg) {
  std::string out;
  out.reserve(128);
  StringSink sink(out);
  Packer packer(sink);
  std::visit([&](const auto& m) { EncodeObject(packer, m); }, msg);
  return out;
}

std::string EncodeTaskSpec(const TaskSpec& spec) {
  std::string out;
  StringSink sink(out);
  Packer packer(sink);
  EncodeObject(packer, spec);
  return out;
}

}  // namespace taskmill::protocol
