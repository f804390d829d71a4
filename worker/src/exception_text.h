#pragma once

// A handler's exception in words, for the DONE of its attempt (code handler_exception) and
// the worker's warning: the C++ counterpart of the Python and Node workers' tracebacks.

#include <cstddef>
#include <exception>
#include <string>

namespace taskmill::worker {

// Longest description sent (the Python and Node workers' MAX_TRACEBACK_CHARS).
inline constexpr size_t kMaxExceptionChars = 4000;
// Deepest std::nested_exception chain followed.
inline constexpr int kMaxNestedExceptions = 16;

// "std::runtime_error: what()" (demangled type), then one "caused by: type: what()" line
// per exception nested with std::throw_with_nested, outermost first; a thrown non-exception
// is named by its type ("thrown int"). At most kMaxExceptionChars: past that the text is
// cut and says so. C++ has no traceback of the throw site to add: g++ 12 as Debian builds
// it has no <stacktrace> (_GLIBCXX_HAVE_STACKTRACE is off, no libstdc++_libbacktrace), and
// a trace taken in the catch block would show the worker, not the handler.
std::string DescribeException(const std::exception_ptr& error);

}  // namespace taskmill::worker
