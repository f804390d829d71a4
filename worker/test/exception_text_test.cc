// A handler's exception in words: type and what(), the nested chain, bounded.

#include "exception_text.h"

#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>
#include <string>

namespace taskmill::worker {
namespace {

template <typename Throw>
std::string Describe(Throw do_throw) {
  try {
    do_throw();
  } catch (...) {
    return DescribeException(std::current_exception());
  }
  return "(nothing thrown)";
}

TEST(ExceptionTextTest, SaysTheTypeAndWhat) {
  EXPECT_EQ(Describe([] { throw std::runtime_error("kaboom"); }),
            "std::runtime_error: kaboom");
  EXPECT_EQ(Describe([] { throw 42; }), "thrown int (not a std::exception)");
}

// The C++ stand-in for a traceback: each level a handler wrapped with throw_with_nested.
TEST(ExceptionTextTest, FollowsNestedExceptionsOutermostFirst) {
  auto text = Describe([] {
    try {
      try {
        throw std::out_of_range("index 7 of 3");
      } catch (...) {
        std::throw_with_nested(std::runtime_error("reading row"));
      }
    } catch (...) {
      std::throw_with_nested(std::logic_error("resize photo.jpg"));
    }
  });
  EXPECT_EQ(text,
            "std::logic_error: resize photo.jpg\n"
            "caused by: std::runtime_error: reading row\n"
            "caused by: std::out_of_range: index 7 of 3");
}

TEST(ExceptionTextTest, IsBoundedHoweverLongOrDeep) {
  auto huge = Describe([] { throw std::runtime_error(std::string(100000, 'x')); });
  EXPECT_EQ(huge.size(), kMaxExceptionChars);
  EXPECT_NE(huge.find("[... cut at 4000 characters]"), std::string::npos);

  std::function<void(int)> nest = [&](int depth) {
    if (depth == 0) throw std::runtime_error("bottom");
    try {
      nest(depth - 1);
    } catch (...) {
      std::throw_with_nested(std::runtime_error("level " + std::to_string(depth)));
    }
  };
  auto deep = Describe([&] { nest(100); });
  EXPECT_LE(deep.size(), kMaxExceptionChars);
  EXPECT_NE(deep.find("level 100"), std::string::npos);
  EXPECT_EQ(deep.find("bottom"), std::string::npos);
  EXPECT_NE(deep.find("(more nested exceptions)"), std::string::npos);
}

}  // namespace
}  // namespace taskmill::worker
