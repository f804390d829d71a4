#include "exception_text.h"

#include <cxxabi.h>

#include <cstdlib>
#include <string_view>
#include <typeinfo>

namespace taskmill::worker {
namespace {

std::string Demangle(const char* mangled) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string out = status == 0 && demangled != nullptr ? demangled : mangled;
  std::free(demangled);
  return out;
}

// Appends one level and returns the exception nested in it (null when none).
std::exception_ptr DescribeOne(const std::exception_ptr& error, std::string& out) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    std::string type = Demangle(typeid(e).name());
    // throw_with_nested's wrapper says nothing the wrapped type does not.
    constexpr std::string_view kWrapper = "std::_Nested_exception<";
    if (type.starts_with(kWrapper) && type.ends_with('>')) {
      type = type.substr(kWrapper.size(), type.size() - kWrapper.size() - 1);
    }
    out += type + ": " + e.what();
    if (const auto* nested = dynamic_cast<const std::nested_exception*>(&e)) {
      return nested->nested_ptr();
    }
  } catch (...) {
    const std::type_info* type = abi::__cxa_current_exception_type();
    out += "thrown " + (type != nullptr ? Demangle(type->name()) : std::string("value")) +
           " (not a std::exception)";
  }
  return nullptr;
}

}  // namespace

std::string DescribeException(const std::exception_ptr& error) {
  std::string out;
  std::exception_ptr level = error;
  for (int depth = 0; level != nullptr && out.size() <= kMaxExceptionChars; ++depth) {
    if (depth == kMaxNestedExceptions) {
      out += "\ncaused by: ... (more nested exceptions)";
      break;
    }
    if (depth > 0) out += "\ncaused by: ";
    level = DescribeOne(level, out);
  }
  if (out.size() > kMaxExceptionChars) {
    constexpr std::string_view kCut = " [... cut at 4000 characters]";
    out.resize(kMaxExceptionChars - kCut.size());
    out += kCut;
  }
  return out;
}

}  // namespace taskmill::worker
