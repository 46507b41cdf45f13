// QEMU's migration stream through our TLS connection (see stream_tunnel.h).
#include "migrate-tool/stream_tunnel.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace mkd::migrate {
namespace {

constexpr size_t kChunk = 256 * 1024;

Result<sockaddr_un> UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return Status::InvalidArgument("unix socket path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

Status WriteAllFd(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0)
      return Status::Io(std::string("writing to QEMU's incoming socket: ") + std::strerror(errno));
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<SourceTunnel>> SourceTunnel::Listen(const std::string& path) {
  MKD_ASSIGN_OR_RETURN(sockaddr_un addr, UnixAddress(path));
  ::unlink(path.c_str());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Io(std::string("socket: ") + std::strerror(errno));
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd, 1) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::Io("listening on " + path + ": " + std::strerror(err));
  }
  return std::unique_ptr<SourceTunnel>(new SourceTunnel(path, fd));
}

SourceTunnel::~SourceTunnel() {
  Cancel();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  ::unlink(path_.c_str());
}

void SourceTunnel::Start(std::function<Result<std::unique_ptr<Channel>>()> connect,
                         const StreamHello& hello, bool hold) {
  released_ = !hold;
  thread_ =
      std::thread([this, connect = std::move(connect), hello] { result_ = Run(connect, hello); });
}

Status SourceTunnel::Run(const std::function<Result<std::unique_ptr<Channel>>()>& connect,
                         const StreamHello& hello) {
  // QEMU connects right after `migrate`; poll so that Cancel() can end the wait.
  int fd = -1;
  while (!cancelled_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) break;
    }
  }
  if (fd < 0) return Status::Io("QEMU never connected to the stream tunnel");
  qemu_fd_ = fd;
  Result<std::unique_ptr<Channel>> channel = connect();
  if (!channel.ok()) {
    ::shutdown(fd, SHUT_RDWR);
    return channel.status().WithContext("stream tunnel");
  }
  Status s = (*channel)->Send(FrameType::kStreamHello, EncodeStreamHello(hello));
  s = s.ok() ? Pump(**channel, fd) : s;
  wire_bytes_ = (*channel)->bytes_sent() + (*channel)->bytes_received();
  if (!s.ok()) ::shutdown(fd, SHUT_RDWR);  // QEMU sees the failure and fails its migration
  return s;
}

Status SourceTunnel::Pump(Channel& channel, int fd) {
  std::string buf(kChunk, '\0');
  bool eof = false;  // QEMU closed its end: everything it wrote is here
  while (true) {
    if (cancelled_.load()) return Status::Io("the stream tunnel was cancelled");
    // What the destination QEMU writes back (its return path, which libvirt turns on) goes to
    // our QEMU. Waits up to 10 ms for a frame, less when QEMU has written.
    if (channel.Readable(std::chrono::milliseconds(eof ? 5 : 10), eof ? -1 : fd)) {
      MKD_ASSIGN_OR_RETURN(Frame f, channel.Receive());
      if (f.type != FrameType::kStreamBack) {
        return Status::InvalidArgument("stream tunnel: unexpected " +
                                       std::string(FrameTypeName(f.type)) + " from serve");
      }
      if (!eof) MKD_RETURN_IF_ERROR(WriteAllFd(fd, f.payload.data(), f.payload.size()));
      continue;
    }
    if (released_.load() && !held_.empty()) {
      // Released: what QEMU wrote meanwhile goes first, in frames no larger than we read.
      for (size_t at = 0; at < held_.size(); at += kChunk) {
        MKD_RETURN_IF_ERROR(
            channel.Send(FrameType::kStreamData,
                         std::string_view(held_).substr(at, std::min(kChunk, held_.size() - at))));
      }
      bytes_ += held_.size();
      std::string().swap(held_);
    }
    if (eof) {
      if (released_.load()) return channel.Send(FrameType::kStreamEnd, {});
      continue;  // held: the end goes once released
    }
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, 0);
    if (r < 0 && errno != EINTR) return Status::Io(std::string("poll: ") + std::strerror(errno));
    if (r <= 0) continue;
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return Status::Io(std::string("reading QEMU's migration stream: ") + std::strerror(errno));
    }
    if (n == 0) {
      eof = true;
      continue;
    }
    if (released_.load()) {
      MKD_RETURN_IF_ERROR(channel.Send(FrameType::kStreamData,
                                       std::string_view(buf.data(), static_cast<size_t>(n))));
      bytes_ += static_cast<uint64_t>(n);
      wire_bytes_ = channel.bytes_sent() + channel.bytes_received();
      continue;
    }
    if (held_.size() + static_cast<size_t>(n) > kMaxHeldStreamBytes) {
      return Status::OutOfRange(
          "QEMU's device state is larger than the " + std::to_string(kMaxHeldStreamBytes >> 20) +
          " MiB the stream tunnel holds until the commit (RAM outside the memfs file?)");
    }
    held_.append(buf.data(), static_cast<size_t>(n));
  }
}

Status SourceTunnel::Join() {
  if (thread_.joinable()) thread_.join();
  const int fd = qemu_fd_.exchange(-1);
  if (fd >= 0) ::close(fd);
  return result_;
}

void SourceTunnel::Cancel() {
  cancelled_ = true;
  const int fd = qemu_fd_.load();
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  (void)Join();
}

namespace {

// QEMU's incoming socket, connected; closing it ends QEMU's stream.
class UnixQemuStreamSocket final : public QemuStreamSocket {
 public:
  explicit UnixQemuStreamSocket(int fd) : fd_(fd) {}
  ~UnixQemuStreamSocket() override {
    ::shutdown(fd_, SHUT_WR);
    ::close(fd_);
  }
  UnixQemuStreamSocket(const UnixQemuStreamSocket&) = delete;
  UnixQemuStreamSocket& operator=(const UnixQemuStreamSocket&) = delete;
  Status Write(std::string_view bytes) override {
    return WriteAllFd(fd_, bytes.data(), bytes.size());
  }
  Result<std::optional<std::string>> ReadBack() override {
    std::string buf(64 * 1024, '\0');
    const ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n > 0) return std::optional<std::string>(buf.substr(0, static_cast<size_t>(n)));
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      return std::optional<std::string>(std::string());
    }
    return std::optional<std::string>();  // QEMU closed its end (or reset it)
  }
  int wait_fd() const override { return fd_; }

 private:
  int fd_;
};

}  // namespace

Result<std::unique_ptr<QemuStreamSocket>> UnixQemuStreamConnector::Connect(
    const std::string& qemu_socket) {
  MKD_ASSIGN_OR_RETURN(sockaddr_un addr, UnixAddress(qemu_socket));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Io(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::Io("connecting to the destination QEMU at " + qemu_socket + ": " +
                      std::strerror(err));
  }
  return std::unique_ptr<QemuStreamSocket>(std::make_unique<UnixQemuStreamSocket>(fd));
}

}  // namespace mkd::migrate
