// The source's failure handling and accounting (docs/migrate.md and docs/postcopy.md, "When
// something fails"): SourceSession::Fail decides from the phase alone what becomes of the VM,
// what the destination is told and what the report says. Reaches the world through the
// session's ports only.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "migrate-tool/source_session.h"

namespace mkd::migrate::internal {

std::string_view PhaseName(SourcePhase phase) {
  switch (phase) {
    case SourcePhase::kPreparing:
      return "preparing";
    case SourcePhase::kCopying:
      return "copying";
    case SourcePhase::kSwitchingOver:
      return "switching over";
    case SourcePhase::kCommitted:
      return "committed";
    case SourcePhase::kDestStopped:
      return "committed, destination stopped";
    case SourcePhase::kDestRunning:
      return "running at the destination";
  }
  return "unknown";
}

std::vector<qmp::CapabilitySetting> MkdCapabilities(bool on) {
  return {{qmp::MigrationCapability::kXIgnoreShared, on},
          {qmp::MigrationCapability::kPauseBeforeSwitchover, on}};
}

void SourceSession::Fail(const Status& cause) {
  LiftThrottle();  // whatever happens next, the guest is not left slowed down
  const SourcePhase phase = phase_.load();
  spdlog::debug("the migration failed while {}: {}", PhaseName(phase), cause.ToString());
  auto monitor = [this, phase] {
    return phase != SourcePhase::kPreparing && monitor_ && monitor_->connected();
  };
  if (phase < SourcePhase::kCommitted) {
    // Before the commit point: the destination drops what it received, the VM stays here.
    if (tunnel_) tunnel_->Cancel();
    if (ch_) (void)ch_->Send(FrameType::kAbort, EncodeAbort(cause.ToString()));
    if (libvirt_ && libvirt_started_) {
      // libvirt cancels its job; the destination's QEMU never got the device state (the tunnel
      // held it), and libvirt resumes the domain here (so do we, below, if it did not).
      Status a = libvirt_->Abort();
      if (!a.ok()) spdlog::warn("cancelling libvirt's migration: {}", a.ToString());
    } else if (monitor() && phase == SourcePhase::kSwitchingOver) {
      (void)monitor_->MigrateCancel();
      (void)WaitMigration({"cancelled", "failed", "completed"});
    }
    if (monitor()) {
      Result<qmp::VmStatus> st = monitor_->QueryStatus();
      if (st.ok() && !st->running) (void)monitor_->Cont();
      // Leave QEMU as we found it: a later stock `migrate` must neither skip RAM nor pause.
      (void)monitor_->SetCapabilities(MkdCapabilities(false));
    }
    r_->outcome = "failed before the commit point; the VM runs on " + o_.host_id +
                  " with its memory unchanged: " + cause.ToString();
    return;
  }
  if (phase == SourcePhase::kDestRunning) {
    // Post-copy after the VM ran at the destination: its memory there is newer than ours for
    // every page it wrote, and some pages never got there. Neither copy can go on.
    if (tunnel_) tunnel_->Cancel();
    if (monitor_) monitor_->Close();
    Status stop = vm_->Stop();
    if (!stop.ok()) spdlog::warn("stopping the source QEMU: {}", stop.ToString());
    if (!postcopy_marker_.empty()) ::unlink(postcopy_marker_.c_str());
    if (postcopy_complete_) {
      // Every page arrived (the destination said so); what failed came after (--verify, the
      // last answer). The destination keeps running the VM: it holds all of its memory.
      r_->outcome = "post-copy: every page arrived on " + o_.to_host +
                    " and the VM runs there, but then: " + cause.ToString() +
                    " (the source QEMU is stopped: its memory is stale; check the VM on " +
                    o_.to_host + ")";
      return;
    }
    r_->outcome = "post-copy failed after the VM started on " + o_.to_host + " (it lacked " +
                  std::to_string(missing_.Count()) +
                  " pages at the switchover, not all arrived): the VM is lost (the destination "
                  "stops it, the source QEMU is stopped; restart the VM from its disk): " +
                  cause.ToString();
    return;
  }
  // After the commit: the destination holds the memory. If QEMU's switchover did not complete,
  // QEMU resumes the VM here by itself (in the fresh epoch set before the commit). If QEMU sent
  // everything but the destination says its QEMU did not take over and is stopped, we resume it
  // here. Without such an answer (link down) two copies could run: the operator decides.
  std::string where = "unknown: check both hosts";
  if (monitor()) {
    Result<qmp::VmStatus> st = monitor_->QueryStatus();
    if (st.ok() && !st->running && phase == SourcePhase::kDestStopped) {
      (void)WaitMigration({"completed"});
      const Status c = monitor_->Cont();
      st = monitor_->QueryStatus();
      if (!c.ok()) spdlog::error("resuming the VM here: {}", c.ToString());
    }
    if (st.ok() && st->running) {
      where = "the VM resumed on " + o_.host_id;
      // It never ran there (the destination said so): this copy is the VM again.
      if (!postcopy_marker_.empty()) ::unlink(postcopy_marker_.c_str());
    } else if (st.ok()) {
      where = "the source QEMU is " + st->status + " and " + o_.to_host +
              " did not confirm that the VM runs there: check it; if it does not run the VM, "
              "`mkd-migrate recover --force` resumes it here";
    }
  }
  if (tunnel_) tunnel_->Cancel();
  r_->outcome = "failed after the commit point (" + where + "): " + cause.ToString();
}

void SourceSession::Account() {
  r_->pages_sent = r_->pages_reused = r_->pages_zero = 0;
  for (PageFate f : fate_) {
    switch (f) {
      case PageFate::kSent:
        ++r_->pages_sent;
        break;
      case PageFate::kReused:
        ++r_->pages_reused;
        break;
      case PageFate::kContent:
        ++r_->pages_content;
        break;
      case PageFate::kZero:
      case PageFate::kZeroSent:
        ++r_->pages_zero;
        break;
    }
  }
  r_->content.enabled = offers_.enabled();
  r_->content.offered = offers_.offered_pages();
  r_->content.taken = offers_.taken_pages();
  r_->content.needed = offers_.needed_pages();
  r_->content.offers = offers_.offers();
  r_->content.stopped = offers_.stopped();
  if (ch_) {
    r_->control_bytes_sent = ch_->bytes_sent();
    r_->control_bytes_received = ch_->bytes_received();
    r_->pipe.link = ch_->SendTimes();
  }
  if (tunnel_) r_->qemu_stream_bytes = tunnel_->bytes();
  r_->wire_bytes = WireBytes();
}

}  // namespace mkd::migrate::internal
