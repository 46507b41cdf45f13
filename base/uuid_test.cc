// Tests for Uuid parsing and printing.
#include "base/uuid.h"

#include <gtest/gtest.h>

namespace mkd {
namespace {

TEST(UuidTest, ParsesAndPrintsCanonicalForm) {
  Result<Uuid> u = Uuid::Parse("6F1C2a9e-0b1d-4c3e-9f00-123456789abc");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->ToString(), "6f1c2a9e-0b1d-4c3e-9f00-123456789abc");
  EXPECT_EQ(u->bytes[0], 0x6f);
  EXPECT_EQ(u->bytes[15], 0xbc);
}

TEST(UuidTest, RejectsMalformedText) {
  for (const char* bad :
       {"", "6f1c2a9e0b1d4c3e9f00123456789abc", "6f1c2a9e-0b1d-4c3e-9f00-123456789ab",
        "6f1c2a9e-0b1d-4c3e-9f00-123456789abcd", "6f1c2a9e_0b1d-4c3e-9f00-123456789abc",
        "6f1c2a9g-0b1d-4c3e-9f00-123456789abc"}) {
    Result<Uuid> u = Uuid::Parse(bad);
    EXPECT_FALSE(u.ok()) << bad;
    if (!u.ok()) {
      EXPECT_NE(u.status().message().find("QEMU -uuid"), std::string::npos);
    }
  }
}

TEST(UuidTest, RandomIsVersion4AndRoundTrips) {
  Uuid a = Uuid::Random();
  Uuid b = Uuid::Random();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.bytes[6] >> 4, 4);
  Result<Uuid> back = Uuid::Parse(a.ToString());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, a);
  EXPECT_FALSE(a.IsNil());
  EXPECT_TRUE(Uuid{}.IsNil());
}

}  // namespace
}  // namespace mkd
