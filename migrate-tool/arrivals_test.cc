// Tests for the peer checks of serve (arrivals.h): the source host a HELLO names against the
// peer's certificate, and a VM's QEMU stream only from the host that sends its pages.
#include "migrate-tool/arrivals.h"

#include <gtest/gtest.h>

namespace mkd::migrate {
namespace {

TEST(ArrivalsTest, HelloMustNameTheHostOfThePeersCertificate) {
  EXPECT_TRUE(CheckSourceHost("HELLO", "host-a", "host-a").ok());
  Status s = CheckSourceHost("HELLO", "host-a", "host-c");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kFailedPrecondition);
  // The operator learns who connected, what it claimed, and what to do.
  EXPECT_NE(s.message().find("from host-c names 'host-a'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("mkd-ca host DIR host-a"), std::string::npos) << s.message();
  EXPECT_FALSE(CheckSourceHost("STREAM_HELLO", "", "host-a").ok());
  EXPECT_FALSE(CheckSourceHost("HELLO", "host-a ", "host-a").ok());
  EXPECT_FALSE(CheckSourceHost("HELLO", "HOST-A", "host-a").ok());
}

TEST(ArrivalsTest, StreamOnlyFromTheHostSendingTheVmAndOnlyOnce) {
  Arrivals arrivals;
  const Uuid vm = Uuid::Random();
  ASSERT_TRUE(arrivals.Add(vm, "/run/vm/incoming.sock", "host-a"));
  EXPECT_FALSE(arrivals.Add(vm, "/elsewhere", "host-c"));  // one arrival per VM

  Result<std::string> other = arrivals.ClaimStream(vm, "host-c");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(other.status().message().find("arriving from host-a"), std::string::npos)
      << other.status().message();

  Result<std::string> own = arrivals.ClaimStream(vm, "host-a");
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  EXPECT_EQ(*own, "/run/vm/incoming.sock");
  EXPECT_FALSE(arrivals.ClaimStream(vm, "host-a").ok());  // a second stream

  EXPECT_EQ(arrivals.ClaimStream(Uuid::Random(), "host-a").status().code(), ErrorCode::kNotFound);
  arrivals.Remove(vm);
  EXPECT_EQ(arrivals.ClaimStream(vm, "host-a").status().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(arrivals.Add(vm, "/run/vm/incoming.sock", "host-c"));  // a later arrival
}

}  // namespace
}  // namespace mkd::migrate
