#include "migrate-tool/peer/tls.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "base/host_id.h"

namespace mkd::peer {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kMakeCerts = "scripts/mkd-ca";

// OpenSSL's error queue, drained: the codes (to pick a message) and their text (for the log).
struct SslErrors {
  std::vector<unsigned long> codes;
  std::string text;

  bool Has(int reason) const {
    for (unsigned long c : codes) {
      if (ERR_GET_LIB(c) == ERR_LIB_SSL && ERR_GET_REASON(c) == reason) return true;
    }
    return false;
  }
  // " (OpenSSL: ...)" or "" when the queue was empty.
  std::string Suffix() const { return text.empty() ? "" : " (OpenSSL: " + text + ")"; }
};

// Takes every error from this thread's OpenSSL queue and leaves it empty.
SslErrors DrainErrors() {
  SslErrors e;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!e.text.empty()) e.text += "; ";
    e.text += buf;
    e.codes.push_back(code);
  }
  ERR_clear_error();
  return e;
}

// The subject CN of `cert`; "" when there is none or more than one.
std::string SubjectCn(const X509* cert) {
  const X509_NAME* name = X509_get_subject_name(cert);
  if (name == nullptr) return "";
  int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, index) >= 0) return "";
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  if (data == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<size_t>(ASN1_STRING_length(data)));
}

// --- A socket BIO that sends with MSG_NOSIGNAL (OpenSSL's own uses write(), raising SIGPIPE).
// The BIO's data is the descriptor; the BIO never closes it (TlsStream does).

int FdOf(BIO* bio) { return static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio))); }

int BioWrite(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  ssize_t n = send(FdOf(bio), data, static_cast<size_t>(size), MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_write(bio);
  }
  return static_cast<int>(n);
}

int BioRead(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  ssize_t n = recv(FdOf(bio), data, static_cast<size_t>(size), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_read(bio);
  }
  return static_cast<int>(n);
}

long BioCtrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int BioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* SocketMethod() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                 "mkd-socket");
    if (m == nullptr) return m;
    BIO_meth_set_write(m, BioWrite);
    BIO_meth_set_read(m, BioRead);
    BIO_meth_set_ctrl(m, BioCtrl);
    BIO_meth_set_create(m, BioCreate);
    return m;
  }();
  return method;
}

// --- Certificate verification: what went wrong, recorded by the callback for the message.

struct VerifyInfo {
  std::string leaf_cn;  // CN of the peer's certificate
  int error = X509_V_OK;
};

int VerifyCallback(int ok, X509_STORE_CTX* store) {
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* info = ssl == nullptr ? nullptr : static_cast<VerifyInfo*>(SSL_get_app_data(ssl));
  if (info != nullptr) {
    if (info->leaf_cn.empty()) {
      if (const X509* leaf = X509_STORE_CTX_get0_cert(store)) info->leaf_cn = SubjectCn(leaf);
    }
    if (!ok && info->error == X509_V_OK) info->error = X509_STORE_CTX_get_error(store);
  }
  return ok;
}

// Waits until `fd` is ready for `events`, at most until `deadline`.
Status Wait(int fd, short events, Clock::time_point deadline, std::chrono::milliseconds timeout,
            std::string_view what) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return Status::Io(std::string(what) + ": no progress within " +
                        std::to_string(timeout.count()) +
                        " ms (the peer is stuck, or the network is down)");
    }
    pollfd p{fd, events, 0};
    int r = poll(&p, 1, static_cast<int>(left.count()) + 1);
    if (r > 0) return Status::Ok();
    if (r < 0 && errno != EINTR)
      return Status::Io(std::string(what) + ": poll: " + strerror(errno));
  }
}

// The message for a failed SSL call whose SSL_get_error was `ssl_error` (errno then `saved_errno`).
// `peer` names the other side ("host-b", "the client"). Drains the error queue.
Status Describe(std::string_view what, std::string_view peer, int ssl_error, int saved_errno,
                const VerifyInfo* verify) {
  SslErrors errors = DrainErrors();
  std::string p(peer);
  std::string head = std::string(what) + ": ";
  if (verify != nullptr && verify->error != X509_V_OK) {
    std::string cn = verify->leaf_cn.empty() ? p : verify->leaf_cn;
    std::string reason = X509_verify_cert_error_string(verify->error);
    switch (verify->error) {
      case X509_V_ERR_HOSTNAME_MISMATCH:
        return Status::FailedPrecondition(head + "expected " + p + ", the certificate names " + cn +
                                          ": connect to " + p + "'s address, or give " + p +
                                          " its own certificate (" + std::string(kMakeCerts) +
                                          " host DIR " + p + ")");
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        return Status::FailedPrecondition(
            head + "certificate of " + cn + " is signed by another CA (" + reason +
            "): every host needs a certificate from the same cluster CA (" +
            std::string(kMakeCerts) + " host DIR " + cn + ") and that CA's ca.crt");
      case X509_V_ERR_CERT_HAS_EXPIRED:
      case X509_V_ERR_CERT_NOT_YET_VALID:
        return Status::FailedPrecondition(head + "certificate of " + cn + " is refused (" + reason +
                                          "): check both hosts' clocks, or renew it with " +
                                          std::string(kMakeCerts));
      case X509_V_ERR_INVALID_PURPOSE:
        return Status::FailedPrecondition(
            head + "certificate of " + cn +
            " is not for TLS client and server use (extendedKeyUsage): remake it with " +
            std::string(kMakeCerts));
      default:
        return Status::FailedPrecondition(head + "certificate of " + cn + " is refused (" + reason +
                                          "): remake it with " + std::string(kMakeCerts));
    }
  }
  if (errors.Has(SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)) {
    return Status::FailedPrecondition(
        head + p +
        " presented no certificate: give every host a certificate from the cluster CA (" +
        std::string(kMakeCerts) + ")" + errors.Suffix());
  }
  if (errors.Has(SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED)) {
    return Status::FailedPrecondition(head + p +
                                      " requires a certificate and got none: configure this "
                                      "host's certificate (" +
                                      std::string(kMakeCerts) + ")" + errors.Suffix());
  }
  if (errors.Has(SSL_R_TLSV1_ALERT_UNKNOWN_CA)) {
    return Status::FailedPrecondition(
        head + p +
        " does not trust the CA that signed this host's certificate: both hosts need "
        "certificates from the same cluster CA (" +
        std::string(kMakeCerts) + ")" + errors.Suffix());
  }
  if (errors.Has(SSL_R_SSLV3_ALERT_BAD_CERTIFICATE) ||
      errors.Has(SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN) ||
      errors.Has(SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE) ||
      errors.Has(SSL_R_TLSV1_ALERT_ACCESS_DENIED)) {
    return Status::FailedPrecondition(
        head + p +
        " refused this host's certificate (it expected another host, or another CA; its log "
        "says which): make the certificate with the cluster CA (" +
        std::string(kMakeCerts) + " host DIR HOST_ID)" + errors.Suffix());
  }
  if (errors.Has(SSL_R_TLSV1_ALERT_PROTOCOL_VERSION) || errors.Has(SSL_R_UNSUPPORTED_PROTOCOL) ||
      errors.Has(SSL_R_NO_PROTOCOLS_AVAILABLE)) {
    return Status::FailedPrecondition(head + p + " does not speak TLS 1.3: update it" +
                                      errors.Suffix());
  }
  if (errors.Has(SSL_R_WRONG_VERSION_NUMBER) || errors.Has(SSL_R_PACKET_LENGTH_TOO_LONG) ||
      errors.Has(SSL_R_RECORD_LENGTH_MISMATCH)) {
    return Status::Io(head + p + " does not speak TLS: check the address and port" +
                      errors.Suffix());
  }
  if (ssl_error == SSL_ERROR_ZERO_RETURN) return Status::Io(head + p + " closed the connection");
  if (errors.Has(SSL_R_UNEXPECTED_EOF_WHILE_READING) ||
      (ssl_error == SSL_ERROR_SYSCALL && saved_errno == 0)) {
    return Status::Io(head + p +
                      " closed the connection unexpectedly (it may have refused this host; see "
                      "its log)" +
                      errors.Suffix());
  }
  if (ssl_error == SSL_ERROR_SYSCALL) {
    return Status::Io(head + "connection to " + p + " failed: " + strerror(saved_errno) +
                      errors.Suffix());
  }
  return Status::Io(head + "TLS error with " + p + errors.Suffix());
}

}  // namespace

// --- TlsContext

Result<TlsContext> TlsContext::Create(const TlsConfig& config, bool server) {
  ERR_clear_error();
  auto fail = [](std::string message) {
    SslErrors errors = DrainErrors();
    return Status::InvalidArgument(message + errors.Suffix());
  };
  SSL_CTX* raw = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (raw == nullptr) return fail("cannot create a TLS context");
  TlsContext ctx(raw, server);
  if (SSL_CTX_set_min_proto_version(raw, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(raw, TLS1_3_VERSION) != 1) {
    return fail("this OpenSSL cannot restrict connections to TLS 1.3");
  }
  SSL_CTX_set_mode(raw, SSL_MODE_ENABLE_PARTIAL_WRITE);
  // Read what the socket has (up to a record buffer) in one recv, not a record's header and
  // body in two: a stream of small frames costs fewer system calls (docs/decisions.md).
  SSL_CTX_set_read_ahead(raw, 1);
  SSL_CTX_set_session_cache_mode(raw, SSL_SESS_CACHE_OFF);
  if (server) SSL_CTX_set_num_tickets(raw, 0);  // no resumption: every connection authenticates
  if (SSL_CTX_load_verify_file(raw, config.ca_file.c_str()) != 1) {
    return fail("cannot load the cluster CA certificate '" + config.ca_file +
                "': copy the cluster's ca.crt there (made by " + std::string(kMakeCerts) +
                " init)");
  }
  if (SSL_CTX_use_certificate_chain_file(raw, config.cert_file.c_str()) != 1) {
    return fail("cannot load this host's certificate '" + config.cert_file + "' (make it with " +
                std::string(kMakeCerts) + " host DIR HOST_ID)");
  }
  if (SSL_CTX_use_PrivateKey_file(raw, config.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail("cannot load this host's private key '" + config.key_file + "' (made with " +
                std::string(kMakeCerts) + " host DIR HOST_ID)");
  }
  if (SSL_CTX_check_private_key(raw) != 1) {
    return fail("the private key '" + config.key_file + "' does not belong to the certificate '" +
                config.cert_file + "'");
  }
  std::string own = SubjectCn(SSL_CTX_get0_certificate(raw));
  if (Status s = ValidateHostId(own); !s.ok()) {
    return fail("the certificate '" + config.cert_file + "' names '" + own + "', not a host id (" +
                s.message() + "): make it with " + std::string(kMakeCerts) + " host DIR HOST_ID");
  }
  SSL_CTX_set_verify(raw, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, VerifyCallback);
  return ctx;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

TlsContext::TlsContext(TlsContext&& other) noexcept
    : ctx_(std::exchange(other.ctx_, nullptr)), server_(other.server_) {}

TlsContext& TlsContext::operator=(TlsContext&& other) noexcept {
  if (this != &other) {
    SSL_CTX_free(ctx_);
    ctx_ = std::exchange(other.ctx_, nullptr);
    server_ = other.server_;
  }
  return *this;
}

// --- TlsStream

Result<TlsStream> TlsStream::Accept(const TlsContext& ctx, int fd,
                                    std::chrono::milliseconds timeout) {
  return Handshake(ctx, fd, "", timeout);
}

Result<TlsStream> TlsStream::Connect(const TlsContext& ctx, int fd, std::string_view expected_host,
                                     std::chrono::milliseconds timeout) {
  return Handshake(ctx, fd, expected_host, timeout);
}

Result<TlsStream> TlsStream::Handshake(const TlsContext& ctx, int fd,
                                       std::string_view expected_host,
                                       std::chrono::milliseconds timeout) {
  ERR_clear_error();
  TlsStream stream(nullptr, fd);  // closes fd on every early return
  const bool server = ctx.server_;
  const std::string what =
      server ? "TLS handshake with a client" : "TLS handshake with " + std::string(expected_host);
  const std::string peer = server ? "the client" : std::string(expected_host);
  if (ctx.ctx_ == nullptr || fd < 0) {
    return Status::InvalidArgument(what + ": no TLS context or socket");
  }
  if (!server) {
    if (Status s = ValidateHostId(expected_host); !s.ok()) {
      return Status::InvalidArgument(what + ": " + s.message());
    }
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return Status::Io(what + ": cannot make the socket non-blocking: " + strerror(errno));
  }
  const BIO_METHOD* method = SocketMethod();
  stream.ssl_ = SSL_new(ctx.ctx_);
  BIO* bio = method == nullptr ? nullptr : BIO_new(method);
  if (stream.ssl_ == nullptr || bio == nullptr) {
    BIO_free(bio);
    SslErrors errors = DrainErrors();
    return Status::Io(what + ": out of memory" + errors.Suffix());
  }
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  SSL_set_bio(stream.ssl_, bio, bio);
  if (!server) {
    std::string host(expected_host);
    SSL_set_hostflags(stream.ssl_, X509_CHECK_FLAG_NO_WILDCARDS);
    if (SSL_set1_host(stream.ssl_, host.c_str()) != 1) {
      SslErrors errors = DrainErrors();
      return Status::InvalidArgument(what + ": cannot set the expected host" + errors.Suffix());
    }
  }

  VerifyInfo verify;
  SSL_set_app_data(stream.ssl_, &verify);
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    ERR_clear_error();
    int r = server ? SSL_accept(stream.ssl_) : SSL_connect(stream.ssl_);
    if (r == 1) break;
    int saved_errno = errno;
    int err = SSL_get_error(stream.ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      Status s = Wait(fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, timeout, what);
      if (!s.ok()) {
        SSL_set_app_data(stream.ssl_, nullptr);
        return s;
      }
      continue;
    }
    SSL_set_app_data(stream.ssl_, nullptr);
    return Describe(what, peer, err, saved_errno, &verify);
  }
  SSL_set_app_data(stream.ssl_, nullptr);

  const X509* cert = SSL_get0_peer_certificate(stream.ssl_);
  if (cert == nullptr) {
    return Status::FailedPrecondition(what + ": " + peer +
                                      " presented no certificate: give every host a certificate "
                                      "from the cluster CA (" +
                                      std::string(kMakeCerts) + ")");
  }
  std::string cn = SubjectCn(cert);
  if (Status s = ValidateHostId(cn); !s.ok()) {
    return Status::FailedPrecondition(what + ": the peer's certificate names '" + cn +
                                      "', not a host id (" + s.message() + "): remake it with " +
                                      std::string(kMakeCerts) + " host DIR HOST_ID");
  }
  if (!server && cn != expected_host) {  // SSL_set1_host checked the subjectAltName only
    return Status::FailedPrecondition(what + ": expected " + peer + ", the certificate names " +
                                      cn + ": remake " + peer + "'s certificate with " +
                                      std::string(kMakeCerts) + " host DIR " + peer);
  }
  stream.peer_host_ = std::move(cn);
  stream.timeout_ = timeout;
  return stream;
}

TlsStream::~TlsStream() { Reset(); }

void TlsStream::Reset() {
  if (ssl_ != nullptr) {
    if (SSL_is_init_finished(ssl_)) SSL_shutdown(ssl_);  // best effort close_notify; never blocks
    SSL_free(ssl_);
    ERR_clear_error();
    ssl_ = nullptr;
  }
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

TlsStream::TlsStream(TlsStream&& other) noexcept
    : ssl_(std::exchange(other.ssl_, nullptr)),
      fd_(std::exchange(other.fd_, -1)),
      peer_host_(std::move(other.peer_host_)),
      timeout_(other.timeout_),
      deadline_(other.deadline_) {}

TlsStream& TlsStream::operator=(TlsStream&& other) noexcept {
  if (this != &other) {
    Reset();
    ssl_ = std::exchange(other.ssl_, nullptr);
    fd_ = std::exchange(other.fd_, -1);
    peer_host_ = std::move(other.peer_host_);
    timeout_ = other.timeout_;
    deadline_ = other.deadline_;
  }
  return *this;
}

Status TlsStream::Transfer(bool write, char* p, size_t size) {
  if (ssl_ == nullptr) {
    return Status::FailedPrecondition(std::string(write ? "write to" : "read from") +
                                      " a closed TLS stream");
  }
  const std::string what = (write ? "sending to " : "receiving from ") + peer_host_;
  // The progress timeout, but never past the stream's deadline.
  auto next_deadline = [this] {
    const Clock::time_point now = Clock::now();
    return deadline_ - now < timeout_ ? deadline_ : now + timeout_;
  };
  Clock::time_point deadline = next_deadline();
  while (size > 0) {
    ERR_clear_error();
    size_t n = 0;
    int r = write ? SSL_write_ex(ssl_, p, size, &n) : SSL_read_ex(ssl_, p, size, &n);
    if (r == 1) {
      p += n;
      size -= n;
      deadline = next_deadline();  // progress: the timeout starts again
      continue;
    }
    int saved_errno = errno;
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (deadline == deadline_ && Clock::now() >= deadline_) {
        return Status::Io(what + ": its time is up (the peer did not finish in time)");
      }
      MKD_RETURN_IF_ERROR(
          Wait(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, timeout_, what));
      continue;
    }
    return Describe(what, peer_host_, err, saved_errno, nullptr);
  }
  return Status::Ok();
}

bool TlsStream::Readable(std::chrono::milliseconds wait, int wake_fd) const {
  if (ssl_ == nullptr) return false;
  if (SSL_has_pending(ssl_) == 1) return true;  // read-ahead bytes not yet decrypted count too
  pollfd p[2] = {{fd_, POLLIN, 0}, {wake_fd, POLLIN, 0}};
  if (::poll(p, wake_fd >= 0 ? 2 : 1, static_cast<int>(wait.count())) <= 0) return false;
  return (p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

uint64_t TlsStream::Unacked() const {
  int n = 0;
  if (fd_ < 0 || ::ioctl(fd_, SIOCOUTQ, &n) != 0 || n < 0) return 0;
  return static_cast<uint64_t>(n);
}

std::optional<TcpSendTimes> TlsStream::SendTimes() const {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (fd_ < 0 || ::getsockopt(fd_, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::nullopt;
  // Kernels before 4.10 return a shorter structure, without these fields.
  if (len < offsetof(tcp_info, tcpi_sndbuf_limited) + sizeof(info.tcpi_sndbuf_limited)) {
    return std::nullopt;
  }
  auto seconds = [](uint64_t us) { return static_cast<double>(us) / 1e6; };
  return TcpSendTimes{seconds(info.tcpi_busy_time), seconds(info.tcpi_rwnd_limited),
                      seconds(info.tcpi_sndbuf_limited)};
}

Status TlsStream::WriteAll(const void* data, size_t size) {
  // SSL_write_ex does not write through the pointer; the cast only shares Transfer's loop.
  return Transfer(true, const_cast<char*>(static_cast<const char*>(data)), size);
}

Status TlsStream::ReadExact(void* data, size_t size) {
  return Transfer(false, static_cast<char*>(data), size);
}

}  // namespace mkd::peer
