// Mutual TLS 1.3 between miyakodori hosts: the authenticated channel the host-to-host migration
// runs over. Every host holds a certificate from the cluster CA (scripts/mkd-ca) whose subject CN
// (and subjectAltName DNS) is its host id; each side proves its identity and checks the other's
// against that CA only (the system trust store is never used). TLS 1.3 only.
//
// Ownership: TlsContext owns an SSL_CTX; TlsStream owns its SSL and the connected socket (it
// closes it, also when Accept or Connect fails). Both are move-only.
// Thread safety: a TlsContext may be shared by streams on any threads once created (it is not
// changed after Create). A TlsStream is used by one thread at a time.
// Blocking: nothing blocks longer than the timeout. The socket is made non-blocking; a handshake
// must finish within its timeout, and WriteAll/ReadExact fail when the peer makes no progress for
// the stream's timeout. Writes never raise SIGPIPE.
// Errors: Status values, never exceptions. kInvalidArgument for unusable files or a bad host id,
// kFailedPrecondition when the peer is refused (or refuses us) for its certificate, kIo for
// network errors, timeouts and an unexpected end of stream. Messages name the host and say what
// to do; OpenSSL's error queue is drained into the message and left empty.
#ifndef MKD_MIGRATE_TOOL_PEER_TLS_H_
#define MKD_MIGRATE_TOOL_PEER_TLS_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

struct ssl_ctx_st;  // SSL_CTX
struct ssl_st;      // SSL

namespace mkd::peer {

// PEM files of one host: the cluster CA certificate, the host's certificate and its private key.
// How a connection's sending went, from the kernel's TCP_INFO (seconds over the connection's
// life): `busy` with data to send; of that, held back by the peer's receive window (the peer
// reads slower than the link carries) or by our own send buffer. Time not busy: nothing to send.
struct TcpSendTimes {
  double busy = 0, receiver_limited = 0, sender_limited = 0;
};

struct TlsConfig {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

class TlsContext {
 public:
  TlsContext() = default;
  // Loads the files and checks the key matches the certificate. `server` chooses the side of the
  // handshake the context is for (Accept or Connect). Both sides require and verify the peer's
  // certificate.
  static Result<TlsContext> Create(const TlsConfig& config, bool server);
  ~TlsContext();
  TlsContext(TlsContext&& other) noexcept;
  TlsContext& operator=(TlsContext&& other) noexcept;
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  bool is_server() const { return server_; }

 private:
  friend class TlsStream;
  TlsContext(ssl_ctx_st* ctx, bool server) : ctx_(ctx), server_(server) {}

  ssl_ctx_st* ctx_ = nullptr;
  bool server_ = false;
};

class TlsStream {
 public:
  TlsStream() = default;
  // Runs the server handshake on the connected socket `fd` (taken over in every case). Fails
  // when the client presents no certificate, one the cluster CA did not sign, or one whose CN is
  // not a valid host id; or when the handshake does not finish within `timeout`.
  static Result<TlsStream> Accept(const TlsContext& ctx, int fd, std::chrono::milliseconds timeout);
  // Runs the client handshake on `fd` (taken over in every case). Fails unless the server's
  // certificate is signed by the cluster CA and names `expected_host` (CN and subjectAltName).
  // In TLS 1.3 the server checks our certificate after the client's handshake has finished: a
  // server that refuses us shows up as an error of the first ReadExact.
  static Result<TlsStream> Connect(const TlsContext& ctx, int fd, std::string_view expected_host,
                                   std::chrono::milliseconds timeout);
  ~TlsStream();
  TlsStream(TlsStream&& other) noexcept;
  TlsStream& operator=(TlsStream&& other) noexcept;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // The peer's host id: its certificate's subject CN (a valid host id, mkd::ValidateHostId).
  const std::string& peer_host() const { return peer_host_; }

  // Sends all `size` bytes, or fails (then the stream is unusable).
  Status WriteAll(const void* data, size_t size);
  // Reads exactly `size` bytes, or fails: on end of stream, a peer error or no progress for the
  // timeout (then the stream is unusable).
  Status ReadExact(void* data, size_t size);
  // True when a read can make progress now or does within `wait`: decrypted bytes are pending
  // or the socket is readable (a partial record then completes in ReadExact). Consumes nothing.
  // With `wake_fd` >= 0 the wait also ends when that descriptor is readable (it is not read).
  bool Readable(std::chrono::milliseconds wait, int wake_fd = -1) const;
  // Bytes written to the socket that the peer has not acknowledged yet (SIOCOUTQ; 0 on error):
  // how much already queues ahead of the next write.
  uint64_t Unacked() const;
  // The socket's TcpSendTimes (nullopt if the kernel does not report them).
  std::optional<TcpSendTimes> SendTimes() const;
  // How long WriteAll and ReadExact wait for progress; starts as the handshake's timeout.
  void SetTimeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  // Besides the timeout, WriteAll and ReadExact never wait past `deadline`, progress or not (a
  // peer trickling a byte at a time cannot hold the stream longer). Default: no deadline.
  void SetDeadline(std::chrono::steady_clock::time_point deadline) { deadline_ = deadline; }

 private:
  // The loop of WriteAll (write) and ReadExact (!write).
  Status Transfer(bool write, char* p, size_t size);
  TlsStream(ssl_st* ssl, int fd) : ssl_(ssl), fd_(fd) {}
  static Result<TlsStream> Handshake(const TlsContext& ctx, int fd, std::string_view expected_host,
                                     std::chrono::milliseconds timeout);
  void Reset();

  ssl_st* ssl_ = nullptr;
  int fd_ = -1;
  std::string peer_host_;
  std::chrono::milliseconds timeout_{0};
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
};

}  // namespace mkd::peer

#endif  // MKD_MIGRATE_TOOL_PEER_TLS_H_
