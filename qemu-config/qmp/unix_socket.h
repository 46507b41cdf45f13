// UnixSocketTransport: a Transport over a connected AF_UNIX stream socket (QEMU's
// `-qmp unix:PATH,server=on,wait=off`).
//
// Owns the descriptor (closed by the destructor); move-only; one thread at a time. All waiting
// is poll() with the caller's deadline; writes use MSG_NOSIGNAL, so a closed peer is a Status,
// never SIGPIPE. Errors are kIo with the path and errno text, kInvalidArgument for a path that
// cannot be a unix socket address.
#ifndef MKD_QEMU_CONFIG_QMP_UNIX_SOCKET_H_
#define MKD_QEMU_CONFIG_QMP_UNIX_SOCKET_H_

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"
#include "qemu-config/qmp/transport.h"

namespace mkd::qmp {

class UnixSocketTransport final : public Transport {
 public:
  // Connects to the socket at `path`. QEMU creates it while starting, so a missing socket
  // (ENOENT), one nobody listens on yet (ECONNREFUSED) and a full backlog (EAGAIN) are retried
  // every few milliseconds until `deadline`; other errors fail at once. A connection accepted
  // into the backlog is returned even if QEMU has not served it yet (QEMU serves one QMP client
  // at a time: a second one waits, without a greeting, until the first disconnects).
  static Result<std::unique_ptr<UnixSocketTransport>> Connect(std::string_view path,
                                                              Deadline deadline);

  // Takes ownership of `fd`, a connected stream socket (made non-blocking here).
  UnixSocketTransport(int fd, std::string description);
  ~UnixSocketTransport() override;
  UnixSocketTransport(UnixSocketTransport&& other) noexcept;
  UnixSocketTransport& operator=(UnixSocketTransport&& other) noexcept;
  UnixSocketTransport(const UnixSocketTransport&) = delete;
  UnixSocketTransport& operator=(const UnixSocketTransport&) = delete;

  Status Send(std::string_view bytes, Deadline deadline) override;
  Result<size_t> Receive(std::span<char> buffer, Deadline deadline) override;

  int fd() const { return fd_; }

 private:
  void Close();
  std::string Describe(std::string_view what, int error) const;

  int fd_ = -1;
  std::string description_;  // "QMP socket /path", for messages
};

}  // namespace mkd::qmp

#endif  // MKD_QEMU_CONFIG_QMP_UNIX_SOCKET_H_
