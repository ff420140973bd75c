#include "util/status.h"

#include <gtest/gtest.h>

namespace usbd {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), 0);
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ErrorCarriesCodeMessageAndRetryable) {
  Status s = Status::Error(ENOSPC, "cache full", true);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ENOSPC);
  EXPECT_TRUE(s.retryable());
  EXPECT_EQ(s.message(), "cache full");
}

TEST(StatusTest, ZeroCodeErrorBecomesEio) {
  EXPECT_EQ(Status::Error(0, "x").code(), EIO);
}

TEST(StatusTest, WithContextPrefixesMessageAndKeepsCode) {
  Status s = Status::Invalid("bad").WithContext("block 7");
  EXPECT_EQ(s.message(), "block 7: bad");
  EXPECT_EQ(s.code(), EINVAL);
  EXPECT_TRUE(Status::Ok().WithContext("x").ok());
}

TEST(StatusTest, ErrnoStatusNamesTheCall) {
  Status s = ErrnoStatus("open foo", ENOENT);
  EXPECT_EQ(s.code(), ENOENT);
  EXPECT_NE(s.message().find("open foo"), std::string::npos);
}

TEST(ResultTest, HoldsValueOrStatus) {
  Result<int> good(42);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 42);
  EXPECT_TRUE(good.status().ok());
  Result<int> bad(Status::Invalid("nope"));
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), EINVAL);
}

}  // namespace
}  // namespace usbd
