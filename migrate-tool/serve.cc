// The destination service: the listening socket, the connection bound and each connection's TLS
// handshake; a connection's session is in serve_session.h, a VM's arrival in incoming.h.
#include "migrate-tool/serve.h"

#include <netdb.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <optional>

#include "genstore/log_limiter.h"
#include "memfs-protocol/arrival.h"
#include "memfs-protocol/names.h"
#include "migrate-tool/arrivals.h"
#include "migrate-tool/channel.h"
#include "migrate-tool/connection_pool.h"
#include "migrate-tool/incoming_adapters.h"
#include "migrate-tool/net.h"
#include "migrate-tool/serve_session.h"
#include "migrate-tool/stream_tunnel.h"

namespace mkd::migrate {
namespace {

using Clock = std::chrono::steady_clock;

// Serves one connection: TLS handshake and first frame within o.handshake_timeout, then the
// session (serve_session.h). Runs on the connection's thread.
void ServeConnection(const ServeOptions& o, const peer::TlsContext& tls, int fd,
                     const std::string& address, const SessionPorts& ports) {
  const auto handshake_deadline = Clock::now() + o.handshake_timeout;
  Result<peer::TlsStream> stream = peer::TlsStream::Accept(tls, fd, o.handshake_timeout);
  if (!stream.ok()) {
    spdlog::warn("refused a connection from {}: {}", address, stream.status().ToString());
    return;
  }
  Channel ch(std::move(*stream));
  ch.SetTimeout(o.timeout);
  ch.SetMaxPayload(o.max_frame_bytes);
  ch.SetDeadline(handshake_deadline);
  const Result<Frame> first = ch.Receive();
  if (first.ok()) ch.SetDeadline(Clock::time_point::max());
  if (first.ok() && first->type == FrameType::kHello && o.receive_buffer_bytes > 0) {
    // Pages are not held back while this host's QEMU starts (docs/decisions.md, "pipe").
    if (Status s = SetReceiveBuffer(fd, o.receive_buffer_bytes); !s.ok()) {
      static std::atomic<bool> said{false};
      if (!said.exchange(true)) {
        spdlog::warn("serve: --receive-buffer {} not applied, the kernel's autotuning stays: {}",
                     o.receive_buffer_bytes, s.ToString());
      }
    }
  }
  ChannelLink link(ch);
  ServeSession(first, link, address, ports);
}

// "10.0.0.1:51234" for the log; "?" when the kernel does not say.
std::string PeerAddress(const sockaddr_storage& sa, socklen_t len) {
  char host[NI_MAXHOST], port[NI_MAXSERV];
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&sa), len, host, sizeof(host), port,
                    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "?";
  }
  return std::string(host) + ":" + port;
}

// Refusals beyond the bound come in floods: one log line per second at most, with a count.
void LogRefusal(LogLimiter& limiter, const std::string& address, const Status& why) {
  if (std::optional<uint64_t> left_out = limiter.Admit()) {
    spdlog::warn("refused a connection from {} at once: {}{}", address, why.ToString(),
                 *left_out > 0 ? " (and " + std::to_string(*left_out) +
                                     " more refused since the last such line)"
                               : std::string());
  }
}

}  // namespace

Status RunServe(const ServeOptions& o, const std::atomic<bool>& stop) {
  if (o.max_sessions == 0 || o.max_frame_bytes == 0 || o.handshake_timeout.count() <= 0) {
    return Status::InvalidArgument(
        "serve: --max-sessions, --max-frame-bytes and --handshake-timeout must be above 0");
  }
  MKD_ASSIGN_OR_RETURN(peer::TlsContext tls, peer::TlsContext::Create(o.tls, /*server=*/true));
  MKD_ASSIGN_OR_RETURN(int listen_fd, ListenTcp(o.listen));
  spdlog::info("mkd-migrate serve: listening on {}, VM definitions in {}", o.listen, o.vm_dir);
  spdlog::info(
      "mkd-migrate serve: limits: --max-sessions {} (connections served at once), "
      "--max-frame-bytes {} (one frame per connection), --handshake-timeout {} s (TLS handshake "
      "and first frame), --timeout {} s (no progress), --receive-buffer {} (per migration's "
      "connection; 0: the kernel's autotuning), --content-index-pages {} (per memfs mount, 16 "
      "bytes each; 0: no reuse by content), --content-scope {}, --content-index-refresh {} s",
      o.max_sessions, o.max_frame_bytes, std::chrono::duration<double>(o.handshake_timeout).count(),
      std::chrono::duration<double>(o.timeout).count(), o.receive_buffer_bytes,
      o.content_index_pages, o.content_scope == ContentScope::kHost ? "host" : "vm",
      o.content_index_refresh.count());
  Arrivals arrivals;
  std::unique_ptr<IncomingHost> host = NewLocalHost({.vm_dir = o.vm_dir,
                                                     .accel = o.accel,
                                                     .accel_cache = o.accel_cache,
                                                     .qemu_binary = o.qemu_binary,
                                                     .content_index_pages = o.content_index_pages,
                                                     .content_scope = o.content_scope,
                                                     .content_index_refresh =
                                                         o.content_index_refresh});
  UnixQemuStreamConnector streams;
  const SessionPorts ports{*host, streams, arrivals, o.timeout, o.handshake_timeout};
  ConnectionPool pool(o.max_sessions);
  LogLimiter refusals(1);
  while (!stop.load()) {
    pool.Reap();
    pollfd p{listen_fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    sockaddr_storage sa{};
    socklen_t len = sizeof(sa);
    int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&sa), &len, SOCK_CLOEXEC);
    if (fd < 0) continue;
    const std::string address = PeerAddress(sa, len);
    pool.Reap();  // connections that ended while we polled free their slots
    Status admitted = pool.Admit(
        [&o, &tls, fd, address, &ports] { ServeConnection(o, tls, fd, address, ports); });
    if (!admitted.ok()) {
      ::close(fd);
      LogRefusal(refusals, address, admitted);
    }
  }
  ::close(listen_fd);
  pool.JoinAll();
  return Status::Ok();
}

}  // namespace mkd::migrate
