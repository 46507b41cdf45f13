// Stream tunnel: QEMU's own migration stream (device state; RAM is skipped with x-ignore-shared)
// carried over a second authenticated connection between the hosts, so no QEMU port is open to
// the network and its bytes are counted with ours. The source QEMU migrates to a unix socket
// this tunnel listens on; the destination side writes the bytes into the destination QEMU's
// incoming unix socket.
// Source side: SourceTunnel owns the listening socket and one pump thread. Destination side:
// UnixQemuStreamConnector connects to the destination QEMU's incoming socket; the frames are
// pumped into it by serve_session.h's PumpIntoQemu on the connection's thread.
#ifndef MKD_MIGRATE_TOOL_STREAM_TUNNEL_H_
#define MKD_MIGRATE_TOOL_STREAM_TUNNEL_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "base/status.h"
#include "base/uuid.h"
#include "migrate-tool/channel.h"
#include "migrate-tool/incoming_ports.h"

namespace mkd::migrate {

// The most of QEMU's stream a held tunnel keeps in memory before it gives up (the device state
// of a VM whose RAM is skipped is well below 1 MiB; video memory and ROMs can add tens of MiB).
inline constexpr uint64_t kMaxHeldStreamBytes = uint64_t{256} << 20;

class SourceTunnel {
 public:
  // Listens on a new unix socket at `path` (replacing a stale one).
  static Result<std::unique_ptr<SourceTunnel>> Listen(const std::string& path);
  ~SourceTunnel();
  SourceTunnel(const SourceTunnel&) = delete;
  SourceTunnel& operator=(const SourceTunnel&) = delete;

  const std::string& path() const { return path_; }
  // Starts the pump thread: waits for QEMU to connect, calls `connect` for the channel to the
  // destination, announces the stream (`hello`: the VM and this host, which serve checks against
  // our certificate), then copies until QEMU closes its end. With `hold`, what QEMU writes is
  // read into memory (so QEMU never blocks on us) and sent only after Release().
  void Start(std::function<Result<std::unique_ptr<Channel>>()> connect, const StreamHello& hello,
             bool hold = false);
  // A held tunnel's bytes go on to the destination from now on.
  void Release() { released_ = true; }
  // Waits for the pump to end (QEMU closed the stream, or an error); returns its outcome.
  Status Join();
  // Stops the pump early (closes the sockets) and waits for it.
  void Cancel();
  uint64_t bytes() const { return bytes_.load(); }            // QEMU's stream
  uint64_t wire_bytes() const { return wire_bytes_.load(); }  // frames sent for it

 private:
  SourceTunnel(std::string path, int fd) : path_(std::move(path)), listen_fd_(fd) {}
  Status Run(const std::function<Result<std::unique_ptr<Channel>>()>& connect,
             const StreamHello& hello);
  // Copies QEMU's stream (fd) to the channel, into held_ until Release(), and the destination's
  // STREAM_BACK frames into QEMU, until QEMU closed its end (then STREAM_END) or an error.
  Status Pump(Channel& channel, int fd);

  std::string path_;
  int listen_fd_ = -1;
  std::atomic<int> qemu_fd_{-1};
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> released_{true};
  std::string held_;
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> wire_bytes_{0};
  std::thread thread_;
  Status result_;
};

// Destination side: the real QemuStreamConnector (a unix socket; closing it shuts the stream
// down for QEMU).
class UnixQemuStreamConnector final : public QemuStreamConnector {
 public:
  Result<std::unique_ptr<QemuStreamSocket>> Connect(const std::string& qemu_socket) override;
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_STREAM_TUNNEL_H_
