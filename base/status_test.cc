// Tests of Status, Result and the MKD_RETURN_IF_ERROR / MKD_ASSIGN_OR_RETURN macros (status.h).
#include "base/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace mkd {
namespace {

Result<int> Half(int n) {
  if (n % 2 != 0) return Status::InvalidArgument(std::to_string(n) + " is odd");
  return n / 2;
}

Result<int> Quarter(int n) {
  MKD_ASSIGN_OR_RETURN(int half, Half(n));
  MKD_ASSIGN_OR_RETURN(int quarter, Half(half));  // two in one scope: distinct temporaries
  return quarter;
}

Status StoreHalf(int n, int* out) {
  MKD_ASSIGN_OR_RETURN(*out, Half(n));  // assigns to an existing lvalue
  return Status::Ok();
}

Result<std::unique_ptr<int>> Boxed(int n) {
  if (n < 0) return Status::OutOfRange("negative");
  return std::make_unique<int>(n);
}

Result<int> Unbox(int n) {
  MKD_ASSIGN_OR_RETURN(std::unique_ptr<int> box, Boxed(n));  // move-only values are moved
  return *box;
}

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = Status::Corrupt("bad magic");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kCorrupt);
  EXPECT_EQ(s.ToString(), "corrupt: bad magic");
  EXPECT_EQ(s.WithContext("table").message(), "table: bad magic");
}

TEST(StatusTest, ResultNeverHoldsAnOkStatus) {
  Result<int> r = Status::Ok();
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.status().ok());
}

TEST(StatusTest, AssignOrReturnPassesValuesOn) {
  Result<int> q = Quarter(12);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(*q, 3);
  int out = 0;
  EXPECT_TRUE(StoreHalf(8, &out).ok());
  EXPECT_EQ(out, 4);
  Result<int> u = Unbox(7);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(*u, 7);
}

TEST(StatusTest, AssignOrReturnReturnsTheFirstError) {
  Result<int> q = Quarter(6);  // 6 -> 3, then 3 is odd
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().message(), "3 is odd");
  int out = -1;
  Status s = StoreHalf(5, &out);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(out, -1);  // untouched on error
  EXPECT_EQ(Unbox(-1).status().code(), ErrorCode::kOutOfRange);
}

}  // namespace
}  // namespace mkd
