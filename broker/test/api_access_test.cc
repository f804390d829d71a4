// Who may use the dashboard's /api (http/api_access.h): the token matrix, the constant-time
// compare, and the token files.

#include "http/api_access.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace taskmill::broker {
namespace {

HttpRequest With(const std::string& authorization) {
  HttpRequest r;
  r.method = "GET";
  if (!authorization.empty()) r.headers.emplace_back("authorization", authorization);
  return r;
}

int Status(const HttpTokens& t, const std::string& auth, ApiNeed need) {
  auto refusal = CheckAccess(t, With(auth), need);
  return refusal ? refusal->status : 200;
}

const std::string kAdmin = "admin-0123456789abcdef";
const std::string kRead = "read-0123456789abcdefgh";

TEST(ApiAccess, WithoutTokensReadsAreOpenAndAdminActionsForbidden) {
  HttpTokens t;
  EXPECT_EQ(Status(t, "", ApiNeed::kRead), 200);
  EXPECT_EQ(Status(t, "", ApiNeed::kAdmin), 403);
  EXPECT_EQ(Status(t, "Bearer " + kAdmin, ApiNeed::kAdmin), 403);
}

TEST(ApiAccess, AnAdminTokenAloneGatesOnlyAdminActions) {
  HttpTokens t{kAdmin, "", false};
  EXPECT_EQ(Status(t, "", ApiNeed::kRead), 200);
  EXPECT_EQ(Status(t, "", ApiNeed::kAdmin), 401);
  EXPECT_EQ(Status(t, "Bearer wrong", ApiNeed::kAdmin), 401);
  EXPECT_EQ(Status(t, "Basic " + kAdmin, ApiNeed::kAdmin), 401);
  EXPECT_EQ(Status(t, "Bearer " + kAdmin + "x", ApiNeed::kAdmin), 401);
  EXPECT_EQ(Status(t, "Bearer " + kAdmin.substr(1), ApiNeed::kAdmin), 401);
  EXPECT_EQ(Status(t, "Bearer " + kAdmin, ApiNeed::kAdmin), 200);
}

TEST(ApiAccess, AReadTokenGatesReadsAndIsNotEnoughForAdminActions) {
  HttpTokens t{kAdmin, kRead, false};
  EXPECT_EQ(Status(t, "", ApiNeed::kOpen), 200);
  EXPECT_EQ(Status(t, "", ApiNeed::kRead), 401);
  EXPECT_EQ(Status(t, "Bearer nope", ApiNeed::kRead), 401);
  EXPECT_EQ(Status(t, "Bearer " + kRead, ApiNeed::kRead), 200);
  EXPECT_EQ(Status(t, "Bearer " + kAdmin, ApiNeed::kRead), 200);
  EXPECT_EQ(Status(t, "Bearer " + kRead, ApiNeed::kAdmin), 403);
}

TEST(ApiAccess, WithCurveReadsNeedATokenAndAreClosedWithoutOne) {
  HttpTokens none{"", "", true};
  EXPECT_TRUE(ReadsNeedToken(none));
  EXPECT_EQ(Status(none, "", ApiNeed::kRead), 403);
  EXPECT_EQ(Status(none, "", ApiNeed::kOpen), 200);
  HttpTokens admin{kAdmin, "", true};
  EXPECT_EQ(Status(admin, "", ApiNeed::kRead), 401);
  EXPECT_EQ(Status(admin, "Bearer " + kAdmin, ApiNeed::kRead), 200);
}

TEST(ApiAccess, SameSecretComparesWholeStrings) {
  EXPECT_TRUE(SameSecret("abc", "abc"));
  EXPECT_FALSE(SameSecret("abd", "abc"));
  EXPECT_FALSE(SameSecret("ab", "abc"));
  EXPECT_FALSE(SameSecret("abcabc", "abc"));  // the repeated secret is not the secret
  EXPECT_FALSE(SameSecret("", "abc"));
  EXPECT_FALSE(SameSecret("", ""));  // no token configured matches nothing
}

TEST(ApiAccess, TokenFilesAreTrimmedAndChecked) {
  std::string dir = std::filesystem::temp_directory_path() / ("tm-tokens-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/admin") << "\n  " << kAdmin << " \n";
  std::ofstream(dir + "/short") << "short";
  std::ofstream(dir + "/spaced") << "a token with spaces in it";
  auto t = LoadHttpTokens(dir + "/admin", "", false);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->admin, kAdmin);
  auto short_one = LoadHttpTokens(dir + "/short", "", false);
  ASSERT_FALSE(short_one);
  EXPECT_NE(short_one.error().message.find("--http-token-file"), std::string::npos);
  auto spaced = LoadHttpTokens("", dir + "/spaced", false);
  ASSERT_FALSE(spaced);
  EXPECT_EQ(spaced.error().message.find("with spaces"), std::string::npos);  // never the token
  EXPECT_FALSE(LoadHttpTokens(dir + "/missing", "", false));
  EXPECT_FALSE(LoadHttpTokens(dir + "/admin", dir + "/admin", false));  // the same token twice
  std::filesystem::remove_all(dir);
}

TEST(HttpRequest, QueryParametersAreDecoded) {
  HttpRequest r;
  r.query = "id=a%2Fb&limit=10&q=x+y&bad=%zz&empty=";
  EXPECT_EQ(r.Query("id"), "a/b");
  EXPECT_EQ(r.Query("limit"), "10");
  EXPECT_EQ(r.Query("q"), "x y");
  EXPECT_EQ(r.Query("bad"), std::nullopt);
  EXPECT_EQ(r.Query("empty"), "");
  EXPECT_EQ(r.Query("missing"), std::nullopt);
  EXPECT_EQ(PercentDecode("%4"), std::nullopt);
  EXPECT_EQ(PercentDecode("%"), std::nullopt);
}

}  // namespace
}  // namespace taskmill::broker
