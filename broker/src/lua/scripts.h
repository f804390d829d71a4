#pragma once

#include <span>
#include <string_view>

namespace taskmill::broker {

// One Lua script of the store: broker/src/lua/<name>.lua with the shared prelude in front.
struct LuaScript {
  std::string_view name;  // the file's base name, e.g. "enqueue"
  std::string_view body;  // prelude + file text
};

// Every script, sorted by name; defined in a .cc that CMake generates at build time
// (broker/cmake/embed_lua.cmake), so the binary never reads Lua files at run time.
std::span<const LuaScript> AllScripts();

}  // namespace taskmill::broker
