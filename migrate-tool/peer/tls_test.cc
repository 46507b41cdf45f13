#include "migrate-tool/peer/tls.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace mkd::peer {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr milliseconds kHandshakeTimeout{5000};

std::string SourceRoot() {
  if (const char* env = std::getenv("MKD_SOURCE_ROOT")) return env;
  return MKD_SOURCE_ROOT;
}

// Certificates made once for the suite by scripts/mkd-ca: cluster CA "ca" with host-a, host-b and
// host-c; an unrelated CA "other" with its own host-a.
class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/mkd-tls-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = new std::string(tmpl);
    const std::string script = SourceRoot() + "/scripts/mkd-ca";
    for (const std::string& args :
         {"init " + *dir_ + "/ca", "host " + *dir_ + "/ca host-a", "host " + *dir_ + "/ca host-b",
          "host " + *dir_ + "/ca host-c", "init " + *dir_ + "/other",
          "host " + *dir_ + "/other host-a"}) {
      std::string cmd = script + " " + args + " >/dev/null";
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
  }
  static void TearDownTestSuite() {
    if (dir_ != nullptr) std::filesystem::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }

  // The files of `host` in CA directory `ca` ("ca" or "other"); trusts `trust`'s CA.
  static TlsConfig Config(const std::string& ca, const std::string& host,
                          const std::string& trust = "ca") {
    return {*dir_ + "/" + trust + "/ca.crt", *dir_ + "/" + ca + "/" + host + ".crt",
            *dir_ + "/" + ca + "/" + host + ".key"};
  }

  static TlsContext MustCreate(const TlsConfig& config, bool server) {
    Result<TlsContext> ctx = TlsContext::Create(config, server);
    EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
    return ctx.ok() ? std::move(ctx).value() : TlsContext();
  }

  // A connected TCP loopback pair: {server side, client side}.
  static std::pair<int, int> SocketPair() {
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(listener, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(listen(listener, 1), 0);
    EXPECT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), len), 0);
    int server = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    EXPECT_GE(server, 0);
    close(listener);
    return {server, client};
  }

  static std::string* dir_;
};

std::string* TlsTest::dir_ = nullptr;

TEST_F(TlsTest, MutualAuthSucceedsAndDataRoundTrips) {
  TlsContext server_ctx = MustCreate(Config("ca", "host-b"), /*server=*/true);
  TlsContext client_ctx = MustCreate(Config("ca", "host-a"), /*server=*/false);
  auto [sfd, cfd] = SocketPair();

  constexpr size_t kSize = 4 << 20;
  auto server = std::async(std::launch::async, [&, sfd = sfd]() -> Status {
    MKD_ASSIGN_OR_RETURN(TlsStream s, TlsStream::Accept(server_ctx, sfd, kHandshakeTimeout));
    if (s.peer_host() != "host-a") return Status::Corrupt("server saw " + s.peer_host());
    std::vector<char> buf(kSize);
    MKD_RETURN_IF_ERROR(s.ReadExact(buf.data(), buf.size()));
    return s.WriteAll(buf.data(), buf.size());  // echo
  });

  Result<TlsStream> c = TlsStream::Connect(client_ctx, cfd, "host-b", kHandshakeTimeout);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->peer_host(), "host-b");
  std::vector<char> out(kSize), in(kSize);
  std::mt19937_64 rng(42);
  for (char& ch : out) ch = static_cast<char>(rng());
  ASSERT_TRUE(c->WriteAll(out.data(), out.size()).ok());
  Status read = c->ReadExact(in.data(), in.size());
  ASSERT_TRUE(read.ok()) << read.ToString();
  EXPECT_EQ(in, out);
  Status s = server.get();
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_F(TlsTest, ServerRefusesClientWithoutCertificate) {
  TlsContext server_ctx = MustCreate(Config("ca", "host-b"), /*server=*/true);
  auto [sfd, cfd] = SocketPair();
  auto server = std::async(std::launch::async, [&, sfd = sfd] {
    return TlsStream::Accept(server_ctx, sfd, kHandshakeTimeout).status();
  });

  // A TLS 1.3 client with no certificate, written with OpenSSL directly.
  timeval tv{5, 0};
  setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  ASSERT_NE(ctx, nullptr);
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_load_verify_file(ctx, (*dir_ + "/ca/ca.crt").c_str());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, cfd);
  if (SSL_connect(ssl) == 1) {
    char byte;
    EXPECT_LE(SSL_read(ssl, &byte, 1), 0);  // the server's alert
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(cfd);

  Status s = server.get();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("presented no certificate"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("scripts/mkd-ca"), std::string::npos) << s.ToString();
}

TEST_F(TlsTest, ServerRefusesClientCertificateFromAnotherCa) {
  TlsContext server_ctx = MustCreate(Config("ca", "host-b"), /*server=*/true);
  // Trusts the cluster CA, but its own certificate comes from another CA.
  TlsContext client_ctx = MustCreate(Config("other", "host-a", "ca"), /*server=*/false);
  auto [sfd, cfd] = SocketPair();
  auto server = std::async(std::launch::async, [&, sfd = sfd] {
    return TlsStream::Accept(server_ctx, sfd, kHandshakeTimeout).status();
  });

  Result<TlsStream> c = TlsStream::Connect(client_ctx, cfd, "host-b", kHandshakeTimeout);
  if (c.ok()) {  // TLS 1.3: the client learns of the refusal on its first read
    char byte;
    Status read = c->ReadExact(&byte, 1);
    EXPECT_FALSE(read.ok());
    EXPECT_NE(read.message().find("does not trust the CA"), std::string::npos) << read.ToString();
  }
  Status s = server.get();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("certificate of host-a is signed by another CA"), std::string::npos)
      << s.ToString();
}

TEST_F(TlsTest, ClientRefusesServerNamingAnotherHost) {
  TlsContext server_ctx = MustCreate(Config("ca", "host-c"), /*server=*/true);
  TlsContext client_ctx = MustCreate(Config("ca", "host-a"), /*server=*/false);
  auto [sfd, cfd] = SocketPair();
  auto server = std::async(std::launch::async, [&, sfd = sfd] {
    return TlsStream::Accept(server_ctx, sfd, kHandshakeTimeout).status();
  });

  Result<TlsStream> c = TlsStream::Connect(client_ctx, cfd, "host-b", kHandshakeTimeout);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(c.status().message().find("expected host-b, the certificate names host-c"),
            std::string::npos)
      << c.status().ToString();
  EXPECT_FALSE(server.get().ok());
}

TEST_F(TlsTest, SilentClientMakesAcceptTimeOut) {
  TlsContext server_ctx = MustCreate(Config("ca", "host-b"), /*server=*/true);
  auto [sfd, cfd] = SocketPair();
  const auto start = Clock::now();
  Result<TlsStream> s = TlsStream::Accept(server_ctx, sfd, milliseconds(200));
  const auto elapsed = Clock::now() - start;
  close(cfd);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("no progress within 200 ms"), std::string::npos)
      << s.status().ToString();
  EXPECT_GE(elapsed, milliseconds(190));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST_F(TlsTest, SilentPeerMakesReadExactTimeOut) {
  TlsContext server_ctx = MustCreate(Config("ca", "host-b"), /*server=*/true);
  TlsContext client_ctx = MustCreate(Config("ca", "host-a"), /*server=*/false);
  auto [sfd, cfd] = SocketPair();
  std::promise<void> done;
  auto server = std::async(std::launch::async, [&, sfd = sfd]() -> Status {
    Result<TlsStream> s = TlsStream::Accept(server_ctx, sfd, kHandshakeTimeout);
    done.get_future().wait_for(std::chrono::seconds(10));  // stays silent, connection open
    return s.status();
  });

  Result<TlsStream> c = TlsStream::Connect(client_ctx, cfd, "host-b", kHandshakeTimeout);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  c->SetTimeout(milliseconds(200));
  char buf[16];
  const auto start = Clock::now();
  Status read = c->ReadExact(buf, sizeof(buf));
  const auto elapsed = Clock::now() - start;
  done.set_value();
  EXPECT_FALSE(read.ok());
  EXPECT_NE(read.message().find("receiving from host-b: no progress within 200 ms"),
            std::string::npos)
      << read.ToString();
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  EXPECT_TRUE(server.get().ok());
}

TEST_F(TlsTest, CreateNamesMissingFiles) {
  TlsConfig config = Config("ca", "host-a");
  config.key_file = *dir_ + "/ca/no-such.key";
  Result<TlsContext> ctx = TlsContext::Create(config, /*server=*/false);
  ASSERT_FALSE(ctx.ok());
  EXPECT_NE(ctx.status().message().find("no-such.key"), std::string::npos)
      << ctx.status().ToString();
}

TEST_F(TlsTest, ConnectRejectsInvalidExpectedHost) {
  TlsContext client_ctx = MustCreate(Config("ca", "host-a"), /*server=*/false);
  auto [sfd, cfd] = SocketPair();
  Result<TlsStream> c = TlsStream::Connect(client_ctx, cfd, "bad/host", kHandshakeTimeout);
  close(sfd);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace mkd::peer
