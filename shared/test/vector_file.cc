#include "vector_file.h"

#include <cstdio>
#include <msgpack.hpp>
#include <regex>
#include <sstream>

#include "taskmill/shared/protocol/codec.h"

namespace taskmill::protocol::testing {
namespace {

void JsonString(std::ostream& out, std::string_view s) {
  out << '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out << "\\\"";
        break;
      case '\\':
        out << "\\\\";
        break;
      case '\n':
        out << "\\n";
        break;
      case '\t':
        out << "\\t";
        break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out << buf;
        } else {
          out << c;
        }
    }
  }
  out << '"';
}

void JsonValue(std::ostream& out, const msgpack::object& o, int indent) {
  std::string pad(indent + 2, ' ');
  switch (o.type) {
    case msgpack::type::NIL:
      out << "null";
      break;
    case msgpack::type::BOOLEAN:
      out << (o.via.boolean ? "true" : "false");
      break;
    case msgpack::type::POSITIVE_INTEGER:
      out << o.via.u64;
      break;
    case msgpack::type::NEGATIVE_INTEGER:
      out << o.via.i64;
      break;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: {
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.17g", o.via.f64);
      std::string s = buf;
      if (s.find_first_of(".eE") == std::string::npos) s += ".0";
      out << s;
      break;
    }
    case msgpack::type::STR:
      JsonString(out, std::string_view(o.via.str.ptr, o.via.str.size));
      break;
    case msgpack::type::BIN:
      out << "{\"$bin\": \"" << Hex(std::string_view(o.via.bin.ptr, o.via.bin.size)) << "\"}";
      break;
    case msgpack::type::ARRAY:
      out << '[';
      for (uint32_t i = 0; i < o.via.array.size; ++i) {
        out << (i ? ", " : "");
        JsonValue(out, o.via.array.ptr[i], indent);
      }
      out << ']';
      break;
    case msgpack::type::MAP:
      if (o.via.map.size == 0) {
        out << "{}";
        break;
      }
      out << "{\n";
      for (uint32_t i = 0; i < o.via.map.size; ++i) {
        const auto& kv = o.via.map.ptr[i];
        out << pad;
        JsonString(out, std::string_view(kv.key.via.str.ptr, kv.key.via.str.size));
        out << ": ";
        JsonValue(out, kv.val, indent + 2);
        out << (i + 1 < o.via.map.size ? ",\n" : "\n");
      }
      out << std::string(indent, ' ') << '}';
      break;
    default:
      out << "\"<unsupported>\"";
  }
}

}  // namespace

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string Unhex(std::string_view hex) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1]));
  }
  return out;
}

std::string VectorJson(const Sample& sample) {
  Frames f = Encode(sample.message);
  std::ostringstream out;
  out << "{\n  \"name\": \"" << sample.name << "\",\n";
  out << "  \"command\": \"" << CommandName(CommandOf(sample.message)) << "\",\n";
  out << "  \"command_byte\": " << static_cast<int>(static_cast<uint8_t>(f.command[0])) << ",\n";
  out << "  \"frames_hex\": [\"" << Hex(f.version) << "\", \"" << Hex(f.command) << "\", \""
      << Hex(f.body) << "\"],\n";
  out << "  \"body\": ";
  msgpack::object_handle oh = msgpack::unpack(f.body.data(), f.body.size());
  JsonValue(out, oh.get(), 2);
  out << "\n}\n";
  return out.str();
}

std::vector<std::string> FramesFromVectorJson(const std::string& json) {
  std::vector<std::string> frames;
  std::smatch m;
  std::regex line(R"re("frames_hex": \["([0-9a-f]*)", "([0-9a-f]*)", "([0-9a-f]*)"\])re");
  if (std::regex_search(json, m, line)) {
    for (int i = 1; i <= 3; ++i) frames.push_back(Unhex(m[i].str()));
  }
  return frames;
}

}  // namespace taskmill::protocol::testing
