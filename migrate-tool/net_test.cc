// Tests for the socket helpers of net.h that need no peer.
#include "migrate-tool/net.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

namespace mkd::migrate {
namespace {

TEST(NetTest, AReceiveBufferIsSetBeyondTheSystemsMaximumAsTheKernelCountsIt) {
  if (::geteuid() != 0) GTEST_SKIP() << "SO_RCVBUFFORCE needs CAP_NET_ADMIN";
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  constexpr uint64_t kBytes = uint64_t{64} << 20;  // above this machine's rmem_max (4 MiB)
  ASSERT_TRUE(SetReceiveBuffer(fd, kBytes).ok());
  int got = 0;
  socklen_t len = sizeof(got);
  ASSERT_EQ(::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len), 0);
  EXPECT_EQ(static_cast<uint64_t>(got), kBytes);
  ::close(fd);
}

TEST(NetTest, AReceiveBufferOutOfRangeOrOnABadSocketIsAnError) {
  EXPECT_FALSE(SetReceiveBuffer(-1, uint64_t{1} << 20).ok());
  EXPECT_FALSE(SetReceiveBuffer(0, 1).ok());
  EXPECT_FALSE(SetReceiveBuffer(0, uint64_t{1} << 40).ok());
}

}  // namespace
}  // namespace mkd::migrate
