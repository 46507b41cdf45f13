// Incoming: one VM arriving at this host, the destination's state machine of a migration
// (docs/migrate.md, "Steps" and "When something fails"; docs/postcopy.md). After a HELLO that
// passed the peer checks, it: checks that this host holds a definition of the VM (it receives
// no VM it was not configured for) and that the sizes agree, registers the arrival (arrivals.h),
// prepares it on the local memfs (user.mkd.arrive), starts the destination QEMU in incoming
// mode, hands the source its table, writes the pages it receives into the incoming incarnation,
// answers VERIFY with its digests, commits, and reports once the VM runs.
//
// What it does when something fails depends only on its phase:
//  - before the commit: it refuses (RESULT ok=false with the reason), stops the QEMU it started
//    and aborts the arrival (user.mkd.abort: the provisional pages become invalid);
//  - it commits only with a QEMU that waits for the VM's device state ("inmigrate");
//  - after the commit, when its QEMU does not run within the timeout: it stops that QEMU (the
//    RAM file becomes a stored incarnation) and tells the source, which resumes the VM;
//  - post-copy, once committed: a failure fails the post-copy in memfs and stops QEMU.
// It reaches memfs, QEMU and the source only through its ports (incoming_ports.h).
// Thread-compatible: one Incoming per control connection, run on that connection's thread;
// in kBackground its QEMU starts on a thread of its own, which touches only the QEMU port
// until the connection's thread takes its result (JoinQemuStart).
#ifndef MKD_MIGRATE_TOOL_INCOMING_H_
#define MKD_MIGRATE_TOOL_INCOMING_H_

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "migrate-tool/arrivals.h"
#include "migrate-tool/incoming_ports.h"
#include "migrate-tool/receive_batch.h"
#include "migrate-tool/wire.h"
#include "qemu-config/command_line.h"
#include "qemu-config/vm_definition.h"

namespace mkd::migrate {

class Incoming {
 public:
  // How far the arrival got; what a failure undoes follows from it. In this order.
  enum class Phase {
    kHello,        // nothing done on this host yet
    kRegistered,   // in Arrivals (removed when the session ends)
    kArrived,      // user.mkd.arrive set: a failure aborts the arrival
    kQemuStarted,  // the destination QEMU started: a failure stops it, then aborts
    kCommitted,    // user.mkd.commit set: never aborted; QEMU stopped if it does not take over
    kQemuStopped,  // after the commit QEMU did not take over: stopped, the source was told
    kRunning,      // the VM runs here
  };

  // How the destination QEMU is started. kBackground (serve): on a thread of its own once the
  // source has the table, so that pages arrive while QEMU starts; READY follows when it waits
  // for the migration. kInline (unit tests that check the order of frames): before READY, which
  // then comes right after the table.
  enum class QemuStartMode { kBackground, kInline };

  // `timeout` bounds the waits for QEMU (to run after the commit, the post-copy's watcher) and
  // the source's silence during a post-copy. Every reference must outlive the Incoming.
  Incoming(IncomingLink& link, IncomingHost& host, Arrivals& arrivals,
           std::chrono::milliseconds timeout, QemuStartMode start_mode = QemuStartMode::kBackground)
      : link_(link), host_(host), arrivals_(arrivals), timeout_(timeout), start_mode_(start_mode) {}
  // Removes the VM from Arrivals when it was registered.
  ~Incoming();
  Incoming(const Incoming&) = delete;
  Incoming& operator=(const Incoming&) = delete;

  // Serves the whole session after `hello`; every outcome is logged and, where the source still
  // listens, answered with a RESULT.
  void Run(const Hello& hello);
  Phase phase() const { return phase_; }

 private:
  Status Prepare();
  // The destination QEMU: started, its monitor connected, x-ignore-shared set, listening for the
  // migration on `socket`. Runs on the starting thread in kBackground: touches only qemu_.
  struct QemuStart {
    bool started = false;  // QEMU's process runs: a failure from here on must stop it
    Status status;
    std::unique_ptr<IncomingMonitor> monitor;
  };
  QemuStart StartQemu(const std::string& socket);
  // Takes over what the QEMU start did (phase, monitor) once it ended; with `wait`, waits for it.
  // Ok when no start is pending or it still runs (without `wait`); else the start's status. Sends
  // READY when the start succeeded (unless `ready` is false: the session is failing).
  Status JoinQemuStart(bool wait, bool ready = true);
  Status Receive();
  // A libvirt domain, at the commit: its QEMU, started by libvirt, waits for the migration;
  // x-ignore-shared is set on it.
  Status FindLibvirtQemu();
  Status Commit();
  Status WaitRunning();
  // After a post-copy commit: runs the post-copy loop; on failure fails it and stops QEMU.
  Status Postcopy();
  // After the commit without a definite end: waits for QEMU to run, stops it otherwise.
  void SettleAfterCommit();
  void Abort(const std::string& why);
  // Stops the destination QEMU (after the commit: its file becomes a stored incarnation).
  void StopQemu();
  void Refuse(const Status& why);
  // received_ with its memfs writes: the batch's and one per ZEROS frame (to COMMIT's RESULT).
  ReceiveStats ReceivedSoFar() const;

  IncomingLink& link_;
  IncomingHost& host_;
  Arrivals& arrivals_;
  const std::chrono::milliseconds timeout_;
  const QemuStartMode start_mode_;
  std::future<QemuStart> qemu_start_;  // kBackground: until JoinQemuStart took it
  int qemu_done_fd_ = -1;              // eventfd the starting thread writes when it ends
  Phase phase_ = Phase::kHello;
  bool postcopy_ = false;  // the source sent LATER pages: a post-copy arrival
  Hello hello_;
  qemuconfig::VmDefinition def_;
  qemuconfig::VmPaths paths_;
  std::unique_ptr<IncomingMemfs> memfs_;
  std::unique_ptr<IncomingQemu> qemu_;
  std::unique_ptr<IncomingMonitor> monitor_;
  std::unique_ptr<IncomingRam> ram_;
  std::vector<uint64_t> block_pages_;
  ReceiveStats received_;  // frames of pages so far and the time spent on them (writes: above)
  // Received pages on their way into memfs, written by a thread of their own while the next
  // frames come; flushed (every write made) before any other frame is handled, discarded before
  // ram_ goes.
  ReceiveBatch batch_{[this](const std::vector<memfs_protocol::LaterRun>& runs,
                             std::string_view data) { return ram_->ReceiveRuns(runs, data); },
                      ReceiveWriter::kDepth};
  uint64_t zero_frames_ = 0;
  // Reuse by content: the host's pages by digest (from the first OFFER on), and what came of the
  // offers.
  Status ReceiveOffer(std::string_view payload);
  std::unique_ptr<IncomingContent> content_;
  uint64_t offered_ = 0, taken_ = 0;
  double offer_seconds_ =
      0;  // handling OFFERs (lookups, reads, hashes; the first waits for the index)
};

// The definition this host holds of the VM `hello` names, checked against it: the same VM, RAM
// on memfs, the same size. kFailedPrecondition (no definition, RAM elsewhere) or
// kInvalidArgument (another VM or size), with a message for the source's operator. What an
// arrival and a plan (plan_answer.h) check first.
Result<qemuconfig::VmDefinition> DefinitionForArrival(const Hello& hello, IncomingHost& host);

// "kCommitted" etc., for logs and test messages.
std::string_view IncomingPhaseName(Incoming::Phase phase);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_INCOMING_H_
