// TCP dial and listen for the peer connections (see net.h).
#include "migrate-tool/net.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>

namespace mkd::migrate {

Status SplitHostPort(const std::string& text, std::string* host, uint16_t* port) {
  *port = kDefaultPort;
  std::string h = text, p;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos) return Status::InvalidArgument("bad address " + text);
    h = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return Status::InvalidArgument("bad address " + text);
      p = text.substr(close + 2);
    }
  } else if (const size_t colon = text.rfind(':');
             colon != std::string::npos && text.find(':') == colon) {
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
  }
  if (h.empty()) return Status::InvalidArgument("address \"" + text + "\" has no host");
  if (!p.empty()) {
    unsigned v = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc() || ptr != p.data() + p.size() || v == 0 || v > 65535) {
      return Status::InvalidArgument("address \"" + text + "\": bad port");
    }
    *port = static_cast<uint16_t>(v);
  }
  *host = h;
  return Status::Ok();
}

Result<int> DialTcp(const std::string& address, std::chrono::milliseconds timeout) {
  std::string host;
  uint16_t port = 0;
  MKD_RETURN_IF_ERROR(SplitHostPort(address, &host, &port));
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    return Status::NotFound("cannot resolve " + host + ": " + ::gai_strerror(rc) +
                            " (give its address with --address)");
  }
  std::string last = "no address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
      int err = 0;
      socklen_t len = sizeof(err);
      if (rc == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
        rc = 0;
      } else {
        errno = rc == 0 ? ETIMEDOUT : (err != 0 ? err : errno);
        rc = -1;
      }
    }
    if (rc == 0) {
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      ::freeaddrinfo(res);
      return fd;
    }
    last = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  return Status::Io("cannot connect to " + address + ": " + last +
                    " (is `mkd-migrate serve` running there?)");
}

Result<std::unique_ptr<Channel>> DialPeer(const peer::TlsContext& tls, const std::string& address,
                                          const std::string& host_id,
                                          std::chrono::milliseconds timeout) {
  MKD_ASSIGN_OR_RETURN(int fd, DialTcp(address, timeout));
  MKD_ASSIGN_OR_RETURN(peer::TlsStream stream, peer::TlsStream::Connect(tls, fd, host_id, timeout));
  return std::make_unique<Channel>(std::move(stream));
}

Result<int> ListenTcp(const std::string& address) {
  std::string host;
  uint16_t port = 0;
  MKD_RETURN_IF_ERROR(SplitHostPort(address, &host, &port));
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    return Status::InvalidArgument("cannot resolve " + host + ": " + ::gai_strerror(rc));
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  // A burst of connections waits in the kernel's accept queue (bounded by this backlog) rather
  // than having its SYNs dropped and retried a second later; serve refuses what is over its
  // session bound as fast as it accepts.
  constexpr int kBacklog = 256;
  if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, kBacklog) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    ::freeaddrinfo(res);
    return Status::Io("cannot listen on " + address + ": " + std::strerror(err));
  }
  ::freeaddrinfo(res);
  return fd;
}

Status SetReceiveBuffer(int fd, uint64_t bytes) {
  if (bytes < 2 || bytes / 2 > static_cast<uint64_t>(std::numeric_limits<int>::max())) {
    return Status::InvalidArgument("receive buffer of " + std::to_string(bytes) +
                                   " bytes: out of range");
  }
  const int half = static_cast<int>(bytes / 2);
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &half, sizeof(half)) != 0) {
    return Status::Io(std::string("SO_RCVBUFFORCE: ") + std::strerror(errno) +
                      (errno == EPERM ? " (needs CAP_NET_ADMIN: run serve as root)" : ""));
  }
  return Status::Ok();
}

}  // namespace mkd::migrate
