// The ports of the source side of a migration: everything SourceSession (source_session.h) asks
// of the world, as small interfaces, so that its decisions (docs/migrate.md and docs/postcopy.md,
// "When something fails") are unit-tested with fakes (source_fakes.h) in milliseconds.
//
//   SourceRam   the VM's RAM file on the local memfs (RamFile: xattrs and the mapping)
//   VmMonitor   the source QEMU's monitor, typed (QMP: qemu-config/qmp/migration.h, queries)
//   PeerLink    frames to and from the destination's `mkd-migrate serve` (Channel over TLS),
//               made by SourcePorts::dial
//   SourceVm    the source QEMU process: its stop, the tunnel of its migration stream, the
//               cgroup throttle of its vCPU threads
//
// The real adapters are in source_adapters.h. Errors are Status values as the real classes give
// them. Threads: see each interface; none is shared by two threads at once except where said.
#ifndef MKD_MIGRATE_TOOL_SOURCE_PORTS_H_
#define MKD_MIGRATE_TOOL_SOURCE_PORTS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "genstore/generation_table.h"
#include "genstore/page_bitmap.h"
#include "migrate-tool/channel.h"
#include "migrate-tool/ram_file.h"
#include "migrate-tool/wire.h"
#include "qemu-config/qmp/migration.h"
#include "qemu-config/qmp/queries.h"

namespace mkd::migrate {

// The VM's RAM file (ram_file.h has each operation's contract). Sync() runs on the session's
// sync thread while the session's thread may call ReadPages/Table/Reusable, and with --verify
// ReadPages also runs on the session's digest thread: an implementation allows these overlaps
// (RamFile does: distinct xattrs, pread or the mapping).
class SourceRam {
 public:
  virtual ~SourceRam() = default;
  virtual Result<RamFileSummary> Summary() = 0;
  virtual Result<PostcopyStatus> Postcopy() = 0;
  virtual Status MapForReading(uint64_t pages) = 0;
  virtual Result<PageBitmap> Sync() = 0;
  virtual Result<GenerationTable> Table() = 0;
  virtual Result<PageBitmap> Reusable(std::string_view peer_table_blob) = 0;
  virtual Status ReadPages(uint64_t first, uint64_t count, char* out) = 0;
  // Moves the VM's directory on to epoch `epoch` (user.mkd.advance): the source never writes
  // pages of the committed epoch again.
  virtual Status Advance(Epoch epoch) = 0;
};

// The source QEMU's monitor: the QMP commands the source uses, typed. One thread at a time.
class VmMonitor {
 public:
  virtual ~VmMonitor() = default;
  virtual bool connected() const = 0;
  virtual void Close() = 0;
  virtual Result<qmp::VmStatus> QueryStatus() = 0;
  virtual Result<qmp::MigrationInfo> QueryMigrate() = 0;
  virtual Result<std::vector<qmp::VcpuInfo>> QueryCpusFast() = 0;
  virtual Status SetCapabilities(const std::vector<qmp::CapabilitySetting>& settings) = 0;
  virtual Status SetMaxBandwidth(uint64_t bytes_per_second) = 0;
  virtual Status Migrate(std::string_view uri) = 0;
  virtual Status MigrateContinue() = 0;  // from pre-switchover
  virtual Status MigrateCancel() = 0;
  virtual Status Cont() = 0;
};

// Frames to and from the destination (Channel's contract, channel.h). One thread sends and
// receives at a time (during a post-copy: the PostcopySender's); the byte counts may be read
// from any thread.
class PeerLink {
 public:
  virtual ~PeerLink() = default;
  virtual Status Send(FrameType type, std::string_view head, std::string_view body = {}) = 0;
  virtual Status Queue(FrameType type, std::string_view head, std::string_view body = {}) = 0;
  virtual Status Flush() = 0;
  virtual Result<Frame> Receive() = 0;
  // Receive(), requiring `type` (RequireFrameType: a refusal in its place is kFailedPrecondition).
  Result<Frame> Expect(FrameType type) { return RequireFrameType(Receive(), type, peer_host()); }
  virtual bool Readable(std::chrono::milliseconds wait) = 0;
  virtual uint64_t Unacked() const = 0;
  virtual void SetBandwidth(uint64_t bytes_per_second) = 0;
  virtual void SetTimeout(std::chrono::milliseconds timeout) = 0;
  virtual const std::string& peer_host() const = 0;
  virtual uint64_t bytes_sent() const = 0;
  virtual uint64_t bytes_received() const = 0;
};

// QEMU's migration stream on its way to the destination (stream_tunnel.h's SourceTunnel): the
// path QEMU migrates to; the pump runs on a thread of its own from the start.
class QemuStream {
 public:
  virtual ~QemuStream() = default;
  virtual const std::string& path() const = 0;
  virtual Status Join() = 0;  // until QEMU closed the stream; the pump's outcome
  virtual void Cancel() = 0;
  virtual uint64_t bytes() const = 0;       // QEMU's stream
  virtual uint64_t wire_bytes() const = 0;  // frames sent for it
};

// The vCPU throttle (vcpu_throttle.h's VcpuThrottle): restores on destruction.
class CpuThrottle {
 public:
  virtual ~CpuThrottle() = default;
  virtual Status Set(uint32_t percent) = 0;
  virtual uint32_t percent() const = 0;
  virtual Status Restore() = 0;
  virtual double ThrottledSeconds() const = 0;
};

// The source QEMU process and what hangs on it. One thread at a time.
class SourceVm {
 public:
  virtual ~SourceVm() = default;
  // Listens at `path` for QEMU's migration stream and starts the pump to the destination.
  virtual Result<std::unique_ptr<QemuStream>> OpenStream(const std::string& path,
                                                         const StreamHello& hello) = 0;
  // Moves the vCPU threads `tids` into a fresh throttle group, unthrottled.
  virtual Result<std::unique_ptr<CpuThrottle>> Throttle(const std::vector<int>& tids) = 0;
  // Stops the source QEMU (its RAM file becomes the VM's stored incarnation here).
  virtual Status Stop() = 0;
};

// What a session runs on. Any may be null when opening failed before it (SourceSession::Fail
// then does what the others allow). Shared, so that a test keeps its fakes to look at them after
// the session ended; the session is their only user meanwhile.
struct SourcePorts {
  // Connects to the destination (mutual TLS, its host id checked).
  std::function<Result<std::shared_ptr<PeerLink>>()> dial;
  std::shared_ptr<SourceRam> ram;
  std::shared_ptr<VmMonitor> monitor;
  std::shared_ptr<SourceVm> vm;
  // The clock the rounds' stop rule reads (stop_rule.h): when each sync took its pages, and
  // now. Called from the session's thread and its sync thread. Empty: a clock that never moves,
  // so that the rule forecasts each round's own set (fakes that do not model time).
  std::function<std::chrono::steady_clock::time_point()> now;
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_SOURCE_PORTS_H_
