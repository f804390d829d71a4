// A minimal, bounded JSON reader (RFC 8259) for command-line payloads and cost files.

#include <cmath>
#include <cstdlib>

#include "handlers/payload.h"

namespace taskmill::worker {
namespace {

class JsonReader {
 public:
  JsonReader(std::string_view text, const PayloadLimits& limits) : s_(text), limits_(limits) {}

  Result<Value> ReadDocument() {
    auto v = ReadValue(0);
    if (!v) return v;
    SkipSpace();
    if (pos_ != s_.size()) return Fail("trailing characters after the JSON value");
    return v;
  }

 private:
  std::unexpected<Error> Fail(const std::string& what) const {
    return MakeError(ErrorCode::kInvalidArgument,
                     "invalid JSON at byte " + std::to_string(pos_) + ": " + what);
  }

  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Result<Value> ReadValue(uint32_t depth) {
    if (depth > limits_.max_depth) return Fail("nested too deeply");
    SkipSpace();
    if (pos_ >= s_.size()) return Fail("unexpected end of input");
    char c = s_[pos_];
    if (c == '{') return ReadObject(depth);
    if (c == '[') return ReadArray(depth);
    if (c == '"') {
      auto str = ReadString();
      if (!str) return std::unexpected(str.error());
      return Value::String(std::move(*str));
    }
    if (Literal("true")) return Value::Bool(true);
    if (Literal("false")) return Value::Bool(false);
    if (Literal("null")) return Value();
    if (c == '-' || (c >= '0' && c <= '9')) return ReadNumber();
    return Fail(std::string("unexpected character '") + c + "'");
  }

  Result<Value> ReadObject(uint32_t depth) {
    ++pos_;  // '{'
    std::vector<std::pair<std::string, Value>> fields;
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return Value::Map(std::move(fields));
    }
    while (true) {
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != '"') return Fail("expected a string key");
      auto key = ReadString();
      if (!key) return std::unexpected(key.error());
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != ':') return Fail("expected ':'");
      ++pos_;
      auto value = ReadValue(depth + 1);
      if (!value) return value;
      if (fields.size() >= limits_.max_items) return Fail("object has too many entries");
      fields.emplace_back(std::move(*key), std::move(*value));
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return Value::Map(std::move(fields));
      }
      return Fail("expected ',' or '}'");
    }
  }

  Result<Value> ReadArray(uint32_t depth) {
    ++pos_;  // '['
    std::vector<Value> items;
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return Value::Array(std::move(items));
    }
    while (true) {
      auto value = ReadValue(depth + 1);
      if (!value) return value;
      if (items.size() >= limits_.max_items) return Fail("array has too many elements");
      items.push_back(std::move(*value));
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return Value::Array(std::move(items));
      }
      return Fail("expected ',' or ']'");
    }
  }

  Result<uint32_t> ReadHex4() {
    if (pos_ + 4 > s_.size()) return Fail("short \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return Fail("bad hex digit in \\u escape");
      }
    }
    return v;
  }

  static void AppendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  Result<std::string> ReadString() {
    ++pos_;  // '"'
    std::string out;
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) return Fail("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) break;
      char e = s_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          auto cp = ReadHex4();
          if (!cp) return std::unexpected(cp.error());
          uint32_t code = *cp;
          if (code >= 0xD800 && code < 0xDC00) {  // high surrogate: a low one must follow
            if (!Literal("\\u")) return Fail("lone surrogate in \\u escape");
            auto low = ReadHex4();
            if (!low) return std::unexpected(low.error());
            if (*low < 0xDC00 || *low > 0xDFFF) return Fail("bad surrogate pair");
            code = 0x10000 + ((code - 0xD800) << 10) + (*low - 0xDC00);
          } else if (code >= 0xDC00 && code <= 0xDFFF) {
            return Fail("lone surrogate in \\u escape");
          }
          AppendUtf8(out, code);
          break;
        }
        default:
          return Fail(std::string("bad escape '\\") + e + "'");
      }
    }
    return Fail("unterminated string");
  }

  Result<Value> ReadNumber() {
    size_t start = pos_;
    bool is_double = false;
    if (s_[pos_] == '-') ++pos_;
    auto digits = [&] {
      size_t d = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - d;
    };
    if (digits() == 0) return Fail("expected digits");
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      is_double = true;
      if (digits() == 0) return Fail("expected digits after '.'");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      is_double = true;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) return Fail("expected digits in exponent");
    }
    if (pos_ - start > 64) return Fail("number too long");
    std::string text(s_.substr(start, pos_ - start));
    if (!is_double) {
      errno = 0;
      char* end = nullptr;
      long long i = std::strtoll(text.c_str(), &end, 10);
      if (errno == 0) return Value::Int(i);
    }
    double d = std::strtod(text.c_str(), nullptr);
    if (!std::isfinite(d)) return Fail("number out of range");
    return Value::Double(d);
  }

  std::string_view s_;
  const PayloadLimits& limits_;
  size_t pos_ = 0;  // next byte to read
};

}  // namespace

Result<Value> ParseJson(std::string_view text, const PayloadLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return MakeError(ErrorCode::kInvalidArgument, "JSON is larger than the limit");
  }
  return JsonReader(text, limits).ReadDocument();
}

}  // namespace taskmill::worker
