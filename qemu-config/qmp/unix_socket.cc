#include "qemu-config/qmp/unix_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

namespace mkd::qmp {
namespace {

// Milliseconds until `deadline` for poll(), rounded up so a wait never ends early; 0 if past.
int PollTimeoutMs(Deadline deadline) {
  const auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<decltype(ms)>(ms, 1 << 30));
}

// 1 when `fd` is ready for `events`, 0 when `deadline` passed first, -1 with errno on error.
int WaitFor(int fd, short events, Deadline deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, PollTimeoutMs(deadline));
    if (n > 0) return 1;  // readiness, hang-up or error: the next call reports which
    if (n == 0) {
      if (Clock::now() >= deadline) return 0;
      continue;  // woke a little early: wait for the rest
    }
    if (errno != EINTR) return -1;
  }
}

std::string ErrnoText(int error) { return std::strerror(error); }

}  // namespace

Result<std::unique_ptr<UnixSocketTransport>> UnixSocketTransport::Connect(std::string_view path,
                                                                          Deadline deadline) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof(addr.sun_path) ||
      path.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument(
        "QMP socket path '" + std::string(path) + "' is empty, contains NUL or is longer than " +
        std::to_string(sizeof(addr.sun_path) - 1) + " bytes; use a shorter directory");
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  const std::string description = "QMP socket " + std::string(path);
  const auto start = Clock::now();
  for (;;) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return Status::Io(description + ": socket: " + ErrnoText(errno));
    int error = 0;
    if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) {
      return std::make_unique<UnixSocketTransport>(fd, description);
    }
    error = errno;
    if (error == EINPROGRESS) {  // not used by Linux for AF_UNIX, but allowed by POSIX
      const int ready = WaitFor(fd, POLLOUT, deadline);
      socklen_t len = sizeof(error);
      if (ready == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0) {
        return std::make_unique<UnixSocketTransport>(fd, description);
      }
      if (ready != 1) error = ready == 0 ? ETIMEDOUT : errno;
    }
    close(fd);
    const bool transient = error == ENOENT || error == ECONNREFUSED || error == EAGAIN ||
                           error == EINTR || error == ETIMEDOUT;
    if (!transient) return Status::Io(description + ": connect: " + ErrnoText(error));
    const auto now = Clock::now();
    if (now >= deadline) {
      const auto waited =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - start).count();
      return Status::Io(description + ": no QMP server accepted a connection within " +
                        std::to_string(waited) + " ms (last error: " + ErrnoText(error) +
                        "); is QEMU running with -qmp unix:" + std::string(path) +
                        ",server=on,wait=off?");
    }
    std::this_thread::sleep_for(
        std::min<Clock::duration>(std::chrono::milliseconds(10), deadline - now));
  }
}

UnixSocketTransport::UnixSocketTransport(int fd, std::string description)
    : fd_(fd), description_(std::move(description)) {
  const int flags = fcntl(fd_, F_GETFL);
  if (flags >= 0) (void)fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
}

UnixSocketTransport::~UnixSocketTransport() { Close(); }

UnixSocketTransport::UnixSocketTransport(UnixSocketTransport&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), description_(std::move(other.description_)) {}

UnixSocketTransport& UnixSocketTransport::operator=(UnixSocketTransport&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    description_ = std::move(other.description_);
  }
  return *this;
}

void UnixSocketTransport::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

std::string UnixSocketTransport::Describe(std::string_view what, int error) const {
  return description_ + ": " + std::string(what) + ": " + ErrnoText(error);
}

Status UnixSocketTransport::Send(std::string_view bytes, Deadline deadline) {
  if (fd_ < 0) return Status::Io(description_ + ": the socket is closed");
  while (!bytes.empty()) {
    const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      if (errno == EPIPE || errno == ECONNRESET) {
        return Status::Io(description_ + ": QEMU closed the connection (did it exit?)");
      }
      return Status::Io(Describe("send", errno));
    }
    const int ready = WaitFor(fd_, POLLOUT, deadline);
    if (ready < 0) return Status::Io(Describe("poll", errno));
    if (ready == 0) {
      return Status::Io(description_ + ": timed out sending a request (" +
                        std::to_string(bytes.size()) + " bytes unsent; QEMU is not reading)");
    }
  }
  return Status::Ok();
}

Result<size_t> UnixSocketTransport::Receive(std::span<char> buffer, Deadline deadline) {
  if (fd_ < 0) return Status::Io(description_ + ": the socket is closed");
  for (;;) {
    const ssize_t n = recv(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n > 0) return static_cast<size_t>(n);
    if (n == 0) return Status::Io(description_ + ": QEMU closed the connection (did it exit?)");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      if (errno == ECONNRESET) {
        return Status::Io(description_ + ": QEMU reset the connection (did it exit?)");
      }
      return Status::Io(Describe("recv", errno));
    }
    const int ready = WaitFor(fd_, POLLIN, deadline);
    if (ready < 0) return Status::Io(Describe("poll", errno));
    if (ready == 0) return size_t{0};
  }
}

}  // namespace mkd::qmp
