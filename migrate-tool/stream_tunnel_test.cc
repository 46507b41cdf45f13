// Tests of the source's stream tunnel over real sockets and TLS: a held stream keeps QEMU's bytes
// until Release(), and what the destination sends back (QEMU's return path) reaches QEMU.
#include "migrate-tool/stream_tunnel.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <string>

#include "base/temp_dir_for_test.h"

namespace mkd::migrate {
namespace {

using std::chrono::milliseconds;

std::string SourceRoot() {
  if (const char* env = std::getenv("MKD_SOURCE_ROOT")) return env;
  return MKD_SOURCE_ROOT;
}

class StreamTunnelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    const std::string ca = SourceRoot() + "/scripts/mkd-ca";
    for (const std::string& args :
         {"init " + dir_, "host " + dir_ + " src", "host " + dir_ + " dst"}) {
      const std::string cmd = ca + " " + args + " >/dev/null";
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
  }

  peer::TlsConfig Config(const std::string& host) const {
    return {dir_ + "/ca.crt", dir_ + "/" + host + ".crt", dir_ + "/" + host + ".key"};
  }

  // A TLS connection over TCP loopback: {destination's end, source's end}.
  std::pair<std::unique_ptr<Channel>, std::unique_ptr<Channel>> ChannelPair() {
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(listener, 1), 0);
    EXPECT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&addr), len), 0);
    int server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    ::close(listener);
    Result<peer::TlsContext> sctx = peer::TlsContext::Create(Config("dst"), /*server=*/true);
    Result<peer::TlsContext> cctx = peer::TlsContext::Create(Config("src"), /*server=*/false);
    EXPECT_TRUE(sctx.ok() && cctx.ok());
    auto accepted = std::async(std::launch::async, [&] {
      return peer::TlsStream::Accept(*sctx, server, milliseconds(5000));
    });
    Result<peer::TlsStream> c = peer::TlsStream::Connect(*cctx, client, "dst", milliseconds(5000));
    Result<peer::TlsStream> s = accepted.get();
    EXPECT_TRUE(c.ok() && s.ok());
    return {std::make_unique<Channel>(std::move(*s)), std::make_unique<Channel>(std::move(*c))};
  }

  // QEMU's end: connects to the tunnel's socket.
  static int ConnectQemu(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    return fd;
  }

  mkd::testing::TempDirForTest tmp_;
  std::string dir_;
};

TEST_F(StreamTunnelTest, AHeldStreamWaitsForReleaseAndTheReturnPathReachesQemu) {
  auto [dst, src] = ChannelPair();
  auto src_end = std::make_shared<std::unique_ptr<Channel>>(std::move(src));
  Result<std::unique_ptr<SourceTunnel>> tunnel = SourceTunnel::Listen(dir_ + "/qemu.sock");
  ASSERT_TRUE(tunnel.ok()) << tunnel.status().ToString();
  const StreamHello hello{Uuid::Random(), "src"};
  (*tunnel)->Start([src_end]() -> Result<std::unique_ptr<Channel>> { return std::move(*src_end); },
                   hello, /*hold=*/true);
  const int qemu = ConnectQemu(dir_ + "/qemu.sock");
  ASSERT_EQ(::write(qemu, "device state", 12), 12);

  Result<Frame> f = dst->Receive();
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->type, FrameType::kStreamHello);
  // Held: nothing of QEMU's stream reaches the destination before Release().
  EXPECT_FALSE(dst->Readable(milliseconds(300)));
  (*tunnel)->Release();
  f = dst->Receive();
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->type, FrameType::kStreamData);
  EXPECT_EQ(f->payload, "device state");

  // The destination QEMU's return path comes back into our QEMU.
  ASSERT_TRUE(dst->Send(FrameType::kStreamBack, "shut").ok());
  char back[16] = {};
  ASSERT_EQ(::read(qemu, back, sizeof back), 4);
  EXPECT_EQ(std::string(back, 4), "shut");

  // Once QEMU closed its end: STREAM_END, and the pump ends well.
  ::close(qemu);
  f = dst->Receive();
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->type, FrameType::kStreamEnd);
  EXPECT_TRUE((*tunnel)->Join().ok());
  EXPECT_EQ((*tunnel)->bytes(), 12u);
}

TEST_F(StreamTunnelTest, AStreamNotHeldGoesOnAtOnce) {
  auto [dst, src] = ChannelPair();
  auto src_end = std::make_shared<std::unique_ptr<Channel>>(std::move(src));
  Result<std::unique_ptr<SourceTunnel>> tunnel = SourceTunnel::Listen(dir_ + "/qemu.sock");
  ASSERT_TRUE(tunnel.ok());
  (*tunnel)->Start([src_end]() -> Result<std::unique_ptr<Channel>> { return std::move(*src_end); },
                   StreamHello{Uuid::Random(), "src"});
  const int qemu = ConnectQemu(dir_ + "/qemu.sock");
  ASSERT_EQ(::write(qemu, "abc", 3), 3);
  ::close(qemu);
  Result<Frame> f = dst->Receive();
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->type, FrameType::kStreamHello);
  f = dst->Receive();
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->type, FrameType::kStreamData);
  EXPECT_EQ(f->payload, "abc");
  f = dst->Receive();
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->type, FrameType::kStreamEnd);
  EXPECT_TRUE((*tunnel)->Join().ok());
}

}  // namespace
}  // namespace mkd::migrate
