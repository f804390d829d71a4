#pragma once

// Builds raw msgpack bytes for codec tests: Pack([](auto& p) { p.pack_map(1); ... }).

#include <msgpack.hpp>
#include <string>

namespace taskmill::protocol::testing {

template <class F>
std::string Pack(F&& write) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> p(buf);
  write(p);
  return std::string(buf.data(), buf.size());
}

}  // namespace taskmill::protocol::testing
