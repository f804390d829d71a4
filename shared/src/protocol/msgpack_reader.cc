#include "protocol/msgpack_reader.h"

#include <bit>
#include <cstring>

namespace taskmill::protocol {

std::string FieldPath::ToString() const {
  std::string out;
  if (parent != nullptr) out = parent->ToString();
  if (!key.empty()) {
    if (!out.empty()) out += '.';
    out += key;
  } else if (index >= 0) {
    out += '[' + std::to_string(index) + ']';
  }
  return out;
}

std::unexpected<Error> MsgpackReader::Fail(ErrorCode code, const FieldPath& path,
                                           std::string what) const {
  std::string where = path.ToString();
  return MakeError(code, (where.empty() ? std::string("body") : where) + ": " + what);
}

const char* MsgpackReader::TypeName(uint8_t b) {
  if (b <= 0x7f || b == 0xcc || b == 0xcd || b == 0xce || b == 0xcf) return "unsigned integer";
  if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3)) return "integer";
  if ((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf) return "map";
  if ((b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd) return "array";
  if ((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb)) return "string";
  if (b == 0xc0) return "nil";
  if (b == 0xc2 || b == 0xc3) return "boolean";
  if (b >= 0xc4 && b <= 0xc6) return "bin";
  if (b == 0xca || b == 0xcb) return "float";
  if (b == 0xc1) return "reserved byte 0xc1";
  return "ext";
}

std::unexpected<Error> MsgpackReader::WrongType(const FieldPath& path, const char* expected) const {
  if (pos_ >= data_.size()) return Fail(ErrorCode::kTruncated, path, "body ends before a value");
  return Fail(
      ErrorCode::kWrongType, path,
      std::string("expected ") + expected + ", got " + TypeName(static_cast<uint8_t>(data_[pos_])));
}

Result<uint64_t> MsgpackReader::ReadBE(size_t n, const FieldPath& path) {
  if (data_.size() - pos_ < n) return Fail(ErrorCode::kTruncated, path, "body ends inside a value");
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(data_[pos_ + i]);
  pos_ += n;
  return v;
}

bool MsgpackReader::ConsumeNil() {
  if (pos_ < data_.size() && static_cast<uint8_t>(data_[pos_]) == 0xc0) {
    ++pos_;
    return true;
  }
  return false;
}

Result<uint32_t> MsgpackReader::Container(const FieldPath& path, bool is_map) {
  if (pos_ >= data_.size()) return Fail(ErrorCode::kTruncated, path, "body ends before a value");
  uint8_t b = static_cast<uint8_t>(data_[pos_]);
  uint64_t n = 0;
  if (is_map && b >= 0x80 && b <= 0x8f) {
    n = b & 0x0f;
    ++pos_;
  } else if (!is_map && b >= 0x90 && b <= 0x9f) {
    n = b & 0x0f;
    ++pos_;
  } else if (b == (is_map ? 0xde : 0xdc)) {
    ++pos_;
    auto v = ReadBE(2, path);
    if (!v) return std::unexpected(v.error());
    n = *v;
  } else if (b == (is_map ? 0xdf : 0xdd)) {
    ++pos_;
    auto v = ReadBE(4, path);
    if (!v) return std::unexpected(v.error());
    n = *v;
  } else {
    return WrongType(path, is_map ? "map" : "array");
  }
  uint32_t cap = is_map ? limits_.max_map : limits_.max_array;
  if (n > cap) {
    return Fail(ErrorCode::kOverLimit, path,
                std::string(is_map ? "map" : "array") + " of " + std::to_string(n) +
                    " entries is over the limit of " + std::to_string(cap));
  }
  // Every element needs at least one byte (two for a map entry): a declared size the
  // remaining bytes cannot hold is truncated input, whatever the limits allow.
  uint64_t min_bytes = is_map ? n * 2 : n;
  if (min_bytes > data_.size() - pos_) {
    return Fail(ErrorCode::kTruncated, path,
                "declares " + std::to_string(n) + " entries but only " +
                    std::to_string(data_.size() - pos_) + " bytes remain");
  }
  if (depth_ + 1 > limits_.max_depth) {
    return Fail(ErrorCode::kOverLimit, path,
                "nesting deeper than " + std::to_string(limits_.max_depth));
  }
  elements_ += n;
  if (elements_ > limits_.max_elements) {
    return Fail(ErrorCode::kOverLimit, path,
                "more than " + std::to_string(limits_.max_elements) + " elements in one message");
  }
  ++depth_;
  return static_cast<uint32_t>(n);
}

Result<uint32_t> MsgpackReader::MapHeader(const FieldPath& path) { return Container(path, true); }
Result<uint32_t> MsgpackReader::ArrayHeader(const FieldPath& path) {
  return Container(path, false);
}

Result<std::string_view> MsgpackReader::Take(uint64_t n, uint32_t cap, const FieldPath& path,
                                             const char* what) {
  if (n > cap) {
    return Fail(ErrorCode::kOverLimit, path,
                std::string(what) + " of " + std::to_string(n) + " bytes is over the limit of " +
                    std::to_string(cap));
  }
  if (n > data_.size() - pos_) {
    return Fail(ErrorCode::kTruncated, path,
                std::string(what) + " declares " + std::to_string(n) + " bytes but only " +
                    std::to_string(data_.size() - pos_) + " remain");
  }
  std::string_view out = data_.substr(pos_, n);
  pos_ += n;
  return out;
}

Result<std::string_view> MsgpackReader::Str(const FieldPath& path) {
  if (pos_ >= data_.size()) return Fail(ErrorCode::kTruncated, path, "body ends before a value");
  uint8_t b = static_cast<uint8_t>(data_[pos_]);
  uint64_t n = 0;
  if (b >= 0xa0 && b <= 0xbf) {
    ++pos_;
    n = b & 0x1f;
  } else if (b >= 0xd9 && b <= 0xdb) {
    ++pos_;
    auto v = ReadBE(size_t{1} << (b - 0xd9), path);
    if (!v) return std::unexpected(v.error());
    n = *v;
  } else {
    return WrongType(path, "string");
  }
  return Take(n, limits_.max_str, path, "string");
}

Result<std::string_view> MsgpackReader::Bytes(const FieldPath& path) {
  if (pos_ >= data_.size()) return Fail(ErrorCode::kTruncated, path, "body ends before a value");
  uint8_t b = static_cast<uint8_t>(data_[pos_]);
  if (b >= 0xc4 && b <= 0xc6) {
    ++pos_;
    auto v = ReadBE(size_t{1} << (b - 0xc4), path);
    if (!v) return std::unexpected(v.error());
    return Take(*v, limits_.max_bin, path, "bin");
  }
  if ((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb)) return Str(path);
  return WrongType(path, "bin");
}

Result<uint64_t> MsgpackReader::Uint(const FieldPath& path) {
  if (pos_ >= data_.size()) return Fail(ErrorCode::kTruncated, path, "body ends before a value");
  uint8_t b = static_cast<uint8_t>(data_[pos_]);
  if (b <= 0x7f) {
    ++pos_;
    return b;
  }
  if (b >= 0xcc && b <= 0xcf) {
    ++pos_;
    return ReadBE(size_t{1} << (b - 0xcc), path);
  }
  if (b >= 0xd0 && b <= 0xd3) {  // a signed encoding of a non-negative value is fine
    auto v = Int(path);
    if (!v) return std::unexpected(v.error());
    if (*v < 0) return Fail(ErrorCode::kInvalidArgument, path, "must not be negative");
    return static_cast<uint64_t>(*v);
  }
  if (b >= 0xe0) return Fail(ErrorCode::kInvalidArgument, path, "must not be negative");
  return WrongType(path, "unsigned integer");
}

Result<int64_t> MsgpackReader::Int(const FieldPath& path) {
  if (pos_ >= data_.size()) return Fail(ErrorCode::kTruncated, path, "body ends before a value");
  uint8_t b = static_cast<uint8_t>(data_[pos_]);
  if (b >= 0xe0) {
    ++pos_;
    return static_cast<int8_t>(b);
  }
  if (b >= 0xd0 && b <= 0xd3) {
    ++pos_;
    size_t n = size_t{1} << (b - 0xd0);
    auto v = ReadBE(n, path);
    if (!v) return std::unexpected(v.error());
    // Sign-extend from n bytes.
    int shift = static_cast<int>(64 - 8 * n);
    return static_cast<int64_t>(*v << shift) >> shift;
  }
  if (b <= 0x7f || (b >= 0xcc && b <= 0xcf)) {
    auto v = Uint(path);
    if (!v) return std::unexpected(v.error());
    if (*v > static_cast<uint64_t>(INT64_MAX)) {
      return Fail(ErrorCode::kInvalidArgument, path, "integer too large");
    }
    return static_cast<int64_t>(*v);
  }
  return WrongType(path, "integer");
}

Result<double> MsgpackReader::Double(const FieldPath& path) {
  if (pos_ >= data_.size()) return Fail(ErrorCode::kTruncated, path, "body ends before a value");
  uint8_t b = static_cast<uint8_t>(data_[pos_]);
  if (b == 0xca) {
    ++pos_;
    auto v = ReadBE(4, path);
    if (!v) return std::unexpected(v.error());
    return static_cast<double>(std::bit_cast<float>(static_cast<uint32_t>(*v)));
  }
  if (b == 0xcb) {
    ++pos_;
    auto v = ReadBE(8, path);
    if (!v) return std::unexpected(v.error());
    return std::bit_cast<double>(*v);
  }
  if (b <= 0x7f || (b >= 0xcc && b <= 0xcf)) {
    auto v = Uint(path);
    if (!v) return std::unexpected(v.error());
    return static_cast<double>(*v);
  }
  if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3)) {
    auto v = Int(path);
    if (!v) return std::unexpected(v.error());
    return static_cast<double>(*v);
  }
  return WrongType(path, "number");
}

Result<bool> MsgpackReader::Bool(const FieldPath& path) {
  if (pos_ >= data_.size()) return Fail(ErrorCode::kTruncated, path, "body ends before a value");
  uint8_t b = static_cast<uint8_t>(data_[pos_]);
  if (b == 0xc2 || b == 0xc3) {
    ++pos_;
    return b == 0xc3;
  }
  return WrongType(path, "boolean");
}

Result<void> MsgpackReader::Skip(const FieldPath& path) {
  if (pos_ >= data_.size()) return Fail(ErrorCode::kTruncated, path, "body ends before a value");
  uint8_t b = static_cast<uint8_t>(data_[pos_]);
  auto skip_bytes = [&](size_t n) -> Result<void> {
    if (data_.size() - pos_ < n)
      return Fail(ErrorCode::kTruncated, path, "body ends inside a value");
    pos_ += n;
    return {};
  };
  auto skip_sized = [&](size_t len_bytes, uint32_t cap, const char* what) -> Result<void> {
    ++pos_;
    auto n = ReadBE(len_bytes, path);
    if (!n) return std::unexpected(n.error());
    auto taken = Take(*n, cap, path, what);
    if (!taken) return std::unexpected(taken.error());
    return {};
  };
  if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) return skip_bytes(1);
  if ((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf) {
    auto n = MapHeader(path);
    if (!n) return std::unexpected(n.error());
    for (uint64_t i = 0; i < uint64_t{*n} * 2; ++i) {
      auto r = Skip(path);
      if (!r) return r;
    }
    Leave();
    return {};
  }
  if ((b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd) {
    auto n = ArrayHeader(path);
    if (!n) return std::unexpected(n.error());
    for (uint32_t i = 0; i < *n; ++i) {
      auto r = Skip(path);
      if (!r) return r;
    }
    Leave();
    return {};
  }
  if ((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb)) {
    auto s = Str(path);
    if (!s) return std::unexpected(s.error());
    return {};
  }
  switch (b) {
    case 0xc4:
      return skip_sized(1, limits_.max_bin, "bin");
    case 0xc5:
      return skip_sized(2, limits_.max_bin, "bin");
    case 0xc6:
      return skip_sized(4, limits_.max_bin, "bin");
    case 0xc7:  // ext: length, a type byte, then the data
    case 0xc8:
    case 0xc9: {
      auto r = skip_sized(size_t{1} << (b - 0xc7), limits_.max_bin, "ext");
      if (!r) return r;
      return skip_bytes(1);
    }
    case 0xca:
      return skip_bytes(5);
    case 0xcb:
      return skip_bytes(9);
    case 0xcc:
    case 0xd0:
      return skip_bytes(2);
    case 0xcd:
    case 0xd1:
      return skip_bytes(3);
    case 0xce:
    case 0xd2:
      return skip_bytes(5);
    case 0xcf:
    case 0xd3:
      return skip_bytes(9);
    case 0xd4:
      return skip_bytes(3);
    case 0xd5:
      return skip_bytes(4);
    case 0xd6:
      return skip_bytes(6);
    case 0xd7:
      return skip_bytes(10);
    case 0xd8:
      return skip_bytes(18);
    default:
      break;
  }
  return Fail(ErrorCode::kWrongType, path, "reserved byte 0xc1");
}

}  // namespace taskmill::protocol
