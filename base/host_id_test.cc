// Tests of the host id rule (host_id.h).
#include "base/host_id.h"

#include <gtest/gtest.h>

#include <string>

namespace mkd {
namespace {

TEST(HostIdTest, AcceptsTheRule) {
  EXPECT_TRUE(ValidateHostId("a").ok());
  EXPECT_TRUE(ValidateHostId("lab-host_2.example").ok());
  EXPECT_TRUE(ValidateHostId(std::string(64, 'a')).ok());
}

TEST(HostIdTest, RefusesWhatCouldEscapeAPathOrAName) {
  EXPECT_FALSE(ValidateHostId("").ok());
  EXPECT_FALSE(ValidateHostId(std::string(65, 'a')).ok());
  EXPECT_FALSE(ValidateHostId("a/b").ok());
  EXPECT_FALSE(ValidateHostId("a b").ok());
  EXPECT_FALSE(ValidateHostId(std::string("a\0b", 3)).ok());
  EXPECT_EQ(ValidateHostId("a:b").code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace mkd
