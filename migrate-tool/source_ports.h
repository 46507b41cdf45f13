// The ports of the source side of a migration: everything SourceSession (source_session.h) asks
// of the world, as small interfaces, so that its decisions (docs/migrate.md and docs/postcopy.md,
// "When something fails") are unit-tested with fakes (source_fakes.h) in milliseconds.
//
//   SourceRam   the VM's RAM file on the local memfs (RamFile: xattrs and pread)
//   VmMonitor   the source QEMU's monitor, typed (QMP: qemu-config/qmp/migration.h, queries)
//   PeerLink    frames to and from the destination's `mkd-migrate serve` (Channel over TLS),
//               made by SourcePorts::dial
//   SourceVm    the source QEMU process: its stop, the tunnel of its migration stream, the
//               cgroup throttle of its vCPU threads
//   DomainMigration  for a VM libvirt manages: libvirt's own migration of its domain
//               (`virsh migrate`), which starts the destination QEMU and the source's `migrate`
//
// The real adapters are in source_adapters.h. Errors are Status values as the real classes give
// them. Threads: see each interface; none is shared by two threads at once except where said.
#ifndef MKD_MIGRATE_TOOL_SOURCE_PORTS_H_
#define MKD_MIGRATE_TOOL_SOURCE_PORTS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
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
// sync thread, and WriteBack()/Take() on its write-back thread (never at the same time as a
// Sync), while the session's thread may call ReadPages/Table/Reusable, and with --verify
// ReadPages also runs on the session's digest thread: an implementation allows these overlaps
// (RamFile does: distinct xattrs, pread).
class SourceRam {
 public:
  virtual ~SourceRam() = default;
  virtual Result<RamFileSummary> Summary() = 0;
  virtual Result<PostcopyStatus> Postcopy() = 0;
  virtual Result<PageBitmap> Sync() = 0;
  virtual Result<PageBitmap> Take() = 0;  // a sync without the write-back (RamFile::Take)
  // Writes the pages of a range back (RamFile::WriteBack); a Take after it has them.
  virtual Status WriteBack(uint64_t first, uint64_t count) = 0;
  virtual Result<GenerationTable> Table() = 0;
  virtual Result<PageBitmap> Reusable(std::string_view peer_table_blob) = 0;
  virtual Status ReadPages(uint64_t first, uint64_t count, char* out) = 0;
  // XXH3-64 of every page of memfs's page store (user.mkd.digests), encoded.
  virtual Result<std::string> DigestsBlob() = 0;
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
  // How the connection's sending went so far (TlsStream::SendTimes; nullopt: not known).
  virtual std::optional<peer::TcpSendTimes> SendTimes() const = 0;
  virtual void SetBandwidth(uint64_t bytes_per_second) = 0;
  virtual void SetTimeout(std::chrono::milliseconds timeout) = 0;
  virtual const std::string& peer_host() const = 0;
  virtual uint64_t bytes_sent() const = 0;
  virtual uint64_t bytes_received() const = 0;
};

// QEMU's migration stream on its way to the destination (stream_tunnel.h's SourceTunnel): the
// path QEMU migrates to; the pump runs on a thread of its own from the start.
// A held stream (OpenStream's `hold`) keeps every byte QEMU writes here, in memory (at most
// kMaxHeldStreamBytes, beyond which the pump fails), until Release(): QEMU cannot pause before
// its switchover for us when libvirt drives it, so its device state waits here instead.
class QemuStream {
 public:
  virtual ~QemuStream() = default;
  virtual const std::string& path() const = 0;
  // A held stream's bytes go on to the destination from now on (no-op when not held).
  virtual void Release() = 0;
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
  // Listens at `path` for QEMU's migration stream and starts the pump to the destination;
  // with `hold`, QEMU's bytes wait until QemuStream::Release().
  virtual Result<std::unique_ptr<QemuStream>> OpenStream(const std::string& path,
                                                         const StreamHello& hello, bool hold) = 0;
  // Moves the vCPU threads `tids` into a fresh throttle group, unthrottled.
  virtual Result<std::unique_ptr<CpuThrottle>> Throttle(const std::vector<int>& tids) = 0;
  // Stops the source QEMU (its RAM file becomes the VM's stored incarnation here).
  virtual Status Stop() = 0;
};

// libvirt's migration of the VM's domain (the VM's definition says "manager": "libvirt"):
// libvirt starts the destination's QEMU and runs the source QEMU's `migrate` into our stream
// tunnel; it answers QEMU's pre-switchover itself, so the session holds the stream instead
// (QemuStream::Release). One thread at a time.
class DomainMigration {
 public:
  virtual ~DomainMigration() = default;
  // Starts libvirt's live migration of the domain, QEMU's stream to `migrate_uri`
  // ("unix:///path"); returns once it was started.
  virtual Status Start(const std::string& migrate_uri) = 0;
  // nullopt while it runs; its outcome once it ended (an error carries libvirt's message).
  virtual std::optional<Status> Poll() = 0;
  // Waits up to `timeout` for it to end; its outcome (kIo when it still runs).
  virtual Status Wait(std::chrono::milliseconds timeout) = 0;
  // Cancels libvirt's job if it still runs and waits for it to end.
  virtual Status Abort() = 0;
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
  // Set for a VM libvirt manages; null for mkd-vm's.
  std::shared_ptr<DomainMigration> libvirt;
  // The clock the rounds' stop rule reads (stop_rule.h): when each sync took its pages, and
  // now. Called from the session's thread and its sync thread. Empty: a clock that never moves,
  // so that the rule forecasts each round's own set (fakes that do not model time).
  std::function<std::chrono::steady_clock::time_point()> now;
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_SOURCE_PORTS_H_
