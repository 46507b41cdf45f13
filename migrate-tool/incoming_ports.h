// The destination's ports: everything `Incoming` (incoming.h), the post-copy loop
// (postcopy_serve.h) and the QEMU stream's serve end (stream_pump.h) use of the world, as small
// interfaces. The real adapters over the mount, QMP, qemu-config and the TLS channel are in
// incoming_adapters.h; fakes for unit tests in incoming_fakes.h (test-only). So the decisions of
// the destination (abort or commit, stop QEMU or not, which RESULT to send) are tested in
// milliseconds, without memfs or QEMU.
// Every port returns errors as Status values with an operator-facing message; none throws.
// Thread safety: one thread at a time per object, except where a method says otherwise.
#ifndef MKD_MIGRATE_TOOL_INCOMING_PORTS_H_
#define MKD_MIGRATE_TOOL_INCOMING_PORTS_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/uuid.h"
#include "genstore/generation.h"
#include "memfs-protocol/receive_frame.h"
#include "migrate-tool/channel.h"
#include "migrate-tool/content_digest.h"
#include "migrate-tool/ram_file.h"
#include "migrate-tool/wire.h"
#include "qemu-config/qmp/queries.h"
#include "qemu-config/vm_definition.h"

namespace mkd::migrate {

// The connection to the source: frames of the migration protocol (wire.h). Real: a Channel.
class IncomingLink {
 public:
  virtual ~IncomingLink() = default;
  virtual Status Send(FrameType type, std::string_view payload) = 0;
  // The next frame; an error when the peer closed, went silent past the timeout or sent a bad
  // frame (Channel::Receive).
  virtual Result<Frame> Receive() = 0;
  // True when a frame (or the end of the connection) can be received without waiting; waits up
  // to `wait`, returning early when `wake_fd` (an eventfd, -1 for none) turns readable.
  virtual bool Readable(std::chrono::milliseconds wait, int wake_fd) = 0;
  // The CN of the peer's verified certificate.
  virtual const std::string& peer_host() const = 0;
};

// The arriving VM's RAM file on the local memfs, through its xattrs (RamFile, docs/memfs.md).
class IncomingRam {
 public:
  virtual ~IncomingRam() = default;
  virtual Result<RamFileSummary> Summary() = 0;
  virtual Result<std::string> TableBlob() = 0;  // user.mkd.table
  virtual Status ReceiveZeros(uint64_t first, uint64_t count, Generation gen) = 0;
  virtual Status ReceiveRuns(const std::vector<memfs_protocol::LaterRun>& runs,
                             std::string_view data) = 0;
  virtual Status ReceiveLater(const std::vector<GenRun>& runs) = 0;  // post-copy's LATER
  virtual Result<std::string> DigestsBlob() = 0;                     // user.mkd.digests
  virtual Result<std::string> DirtyBlob() = 0;                       // user.mkd.dirty
  virtual Status Fsync() = 0;
  // Post-copy: waits (in memfs, up to 0.5 s) for the pages reads wait for; each call renews
  // memfs's lease on the post-copy.
  virtual Result<WantedPages> TakeWanted() = 0;
  virtual Result<PostcopyStatus> Postcopy() = 0;             // user.mkd.postcopy
  virtual Status FailPostcopy(std::string_view reason) = 0;  // reads of missing pages fail
};

// The arriving VM's directory on the local memfs: the arrival's lifecycle (user.mkd.arrive,
// commit, abort; docs/memfs.md).
class IncomingMemfs {
 public:
  virtual ~IncomingMemfs() = default;
  // Creates the directory if needed and starts an arrival in `epoch` of `lineage`.
  virtual Status Arrive(Epoch epoch, const Uuid& lineage) = 0;
  // Opens the RAM file for writing once (creating it `bytes` long if it does not exist), which
  // makes it incoming in memfs: its table can be read and pages received before the destination
  // QEMU opens it. A file of another size is an error.
  virtual Status PrepareRam(uint64_t bytes) = 0;
  // The received pages become the VM's memory (the commit point).
  virtual Status Commit() = 0;
  // Every provisional page becomes invalid, never reused.
  virtual Status Abort() = 0;
  // Opens the RAM file; each call gives a handle of its own (the post-copy's poller thread
  // uses one while the loop uses another).
  virtual Result<std::unique_ptr<IncomingRam>> OpenRam() = 0;
  // Whether the VM's RAM file exists here (live, incoming or stored), without touching it.
  virtual Result<bool> HasRam() = 0;
};

// The destination QEMU's monitor (QMP), as typed operations.
// Thread safety: one thread at a time; the post-copy loop hands it to its watcher thread.
class IncomingMonitor {
 public:
  virtual ~IncomingMonitor() = default;
  // migrate-set-capabilities x-ignore-shared: RAM is not in QEMU's stream (it is in memfs).
  virtual Status EnableIgnoreShared() = 0;
  // migrate-incoming on a fresh unix socket at `socket_path` (a stale one is removed first).
  virtual Status ListenForMigration(const std::string& socket_path) = 0;
  // query-status; an error once QEMU is gone.
  virtual Result<qmp::VmStatus> QueryStatus() = 0;
  virtual bool connected() const = 0;
  virtual void Close() = 0;
};

// The destination QEMU's process (qemu-config's StartVm / StopVm of the VM's definition), or,
// for a libvirt domain, the QEMU libvirt starts during the source's `virsh migrate`.
class IncomingQemu {
 public:
  virtual ~IncomingQemu() = default;
  // libvirt starts this QEMU (the definition's manager): serve starts none, and finds it, waiting
  // for the migration on <run_dir>/<uuid>/migrate.sock, by the time the source commits.
  virtual bool LibvirtStarts() const = 0;
  // A QEMU of this VM runs on this host already.
  virtual bool Running() = 0;
  // Starts QEMU waiting for a migration (-incoming defer) and waits until it answers on QMP.
  virtual Status StartIncoming() = 0;
  virtual Result<std::unique_ptr<IncomingMonitor>> ConnectMonitor(
      std::chrono::milliseconds timeout) = 0;
  // Stops QEMU (quit, then signals). kNotFound when it does not run.
  virtual Status Stop() = 0;
};

// The pages this host holds, found by content (reuse by content: content_index.h): one per
// arrival, used from its session's thread.
class IncomingContent {
 public:
  virtual ~IncomingContent() = default;
  // A page of this host whose content has this XXH3-64 and SHA-256, both checked on the bytes
  // read: true with its content in `out` (kPageSize bytes). Never an error: a page that cannot
  // be read or no longer matches is not found.
  virtual bool Find(uint64_t digest, const Sha256& sha, char* out) = 0;
  // Starts building what Find needs on a thread of its own (the arrival calls it as soon as the
  // VM's file is incoming, so the first OFFER rarely waits for it). Find waits for it.
  virtual void Prefetch() = 0;
  // One line for the log: what the lookups found (hits, stale, collisions).
  virtual std::string Summary() const = 0;
};

// This host as serve sees it: the VM definitions it holds, and the ports for one VM.
class IncomingHost {
 public:
  virtual ~IncomingHost() = default;
  // Where the definition of `vm` is, for messages.
  virtual std::string DefinitionPath(const Uuid& vm) const = 0;
  // The definition of `vm`; nullopt when this host has none (it does not receive that VM), an
  // error when there is one that cannot be read.
  virtual Result<std::optional<qemuconfig::VmDefinition>> LoadDefinition(const Uuid& vm) = 0;
  virtual std::unique_ptr<IncomingMemfs> MemfsFor(const qemuconfig::VmDefinition& def) = 0;
  virtual std::unique_ptr<IncomingQemu> QemuFor(const qemuconfig::VmDefinition& def) = 0;
  // The pages of the memfs mount `def`'s RAM is on, by content. `own_file`: whether the VM's own
  // RAM file there counts (an arrival: the file it arrives in); false for a plan whose arrival
  // would drop what that file holds (plan_answer.h).
  virtual std::unique_ptr<IncomingContent> ContentFor(const qemuconfig::VmDefinition& def,
                                                      bool own_file) = 0;
};

// The destination QEMU's incoming migration socket, where the QEMU stream's serve end writes
// QEMU's device state. Closing it (destruction) ends QEMU's stream.
class QemuStreamSocket {
 public:
  virtual ~QemuStreamSocket() = default;
  virtual Status Write(std::string_view bytes) = 0;
  // QEMU's return path (libvirt turns it on): what the destination QEMU wrote back, without
  // waiting: "" when nothing came, nullopt once QEMU closed its end.
  virtual Result<std::optional<std::string>> ReadBack() = 0;
  // A descriptor that turns readable when ReadBack has something (-1: none to wait on).
  virtual int wait_fd() const = 0;
};

// Connects to a destination QEMU's incoming socket at `path`.
class QemuStreamConnector {
 public:
  virtual ~QemuStreamConnector() = default;
  virtual Result<std::unique_ptr<QemuStreamSocket>> Connect(const std::string& path) = 0;
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_INCOMING_PORTS_H_
