# Script mode: cmake -DOUT=<file.cc> -DPRELUDE="lib/a.lua;lib/b.lua" -DSCRIPTS="a.lua;b.lua"
#   -P embed_lua.cmake
# Writes a .cc that defines taskmill::broker::AllScripts(): each script is the shared prelude
# files (in order) followed by the verb's file, so every loaded script is self-contained.
set(prelude "")
foreach(lib IN LISTS PRELUDE)
  file(READ "${lib}" text)
  string(APPEND prelude "${text}")
endforeach()
set(body "// Generated from broker/src/lua/*.lua by embed_lua.cmake. Do not edit.\n")
string(APPEND body "#include \"lua/scripts.h\"\n\nnamespace taskmill::broker {\nnamespace {\n")
# The bodies are `sv` literals: their length comes with the literal, where building a
# string_view from a const char* counts it at compile time, which past ~1 MB of scripts
# (every one carries the prelude, limits.lua included) exceeds g++'s constexpr budget.
string(APPEND body "using namespace std::string_view_literals;\n\n")
string(APPEND body "constexpr LuaScript kScripts[] = {\n")
foreach(path IN LISTS SCRIPTS)
  get_filename_component(name "${path}" NAME_WE)
  file(READ "${path}" text)
  string(FIND "${prelude}${text}" ")tmlua\"" bad)
  if(NOT bad EQUAL -1)
    message(FATAL_ERROR "${path} contains the raw-string delimiter )tmlua\"")
  endif()
  string(APPEND body "    {\"${name}\"sv, R\"tmlua(${prelude}${text})tmlua\"sv},\n")
endforeach()
string(APPEND body "};\n}  // namespace\n\nstd::span<const LuaScript> AllScripts() { return kScripts; }\n\n}  // namespace taskmill::broker\n")
file(WRITE "${OUT}.tmp" "${body}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUT}.tmp" "${OUT}")
file(REMOVE "${OUT}.tmp")
