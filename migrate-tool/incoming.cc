// One VM arriving at this host (see incoming.h and docs/migrate.md). Touches memfs, QEMU and
// the source only through the ports it was given.
#include "migrate-tool/incoming.h"

#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "migrate-tool/fault_points.h"
#include "migrate-tool/offer_answer.h"
#include "migrate-tool/postcopy_serve.h"

namespace mkd::migrate {

using Clock = std::chrono::steady_clock;

std::string_view IncomingPhaseName(Incoming::Phase phase) {
  switch (phase) {
    case Incoming::Phase::kHello:
      return "kHello";
    case Incoming::Phase::kRegistered:
      return "kRegistered";
    case Incoming::Phase::kArrived:
      return "kArrived";
    case Incoming::Phase::kQemuStarted:
      return "kQemuStarted";
    case Incoming::Phase::kCommitted:
      return "kCommitted";
    case Incoming::Phase::kQemuStopped:
      return "kQemuStopped";
    case Incoming::Phase::kRunning:
      return "kRunning";
  }
  return "?";
}

Incoming::~Incoming() {
  if (qemu_start_.valid()) qemu_start_.wait();
  if (qemu_done_fd_ >= 0) ::close(qemu_done_fd_);
  if (phase_ >= Phase::kRegistered) {
    arrivals_.Remove(hello_.vm);
    spdlog::info("incoming VM {}: session ended", hello_.vm.ToString());
  }
}

void Incoming::Refuse(const Status& why) {
  spdlog::warn("incoming VM {} from {}: {}", hello_.vm.ToString(), link_.peer_host(),
               why.ToString());
  (void)link_.Send(FrameType::kResult, EncodeResult({false, why.ToString()}));
}

ReceiveStats Incoming::ReceivedSoFar() const {
  ReceiveStats r = received_;
  r.writes = batch_.writes() + zero_frames_;
  r.write_seconds = batch_.write_seconds();
  return r;
}

Result<qemuconfig::VmDefinition> DefinitionForArrival(const Hello& hello, IncomingHost& host) {
  const std::string path = host.DefinitionPath(hello.vm);
  MKD_ASSIGN_OR_RETURN(std::optional<qemuconfig::VmDefinition> def, host.LoadDefinition(hello.vm));
  if (!def.has_value()) {
    return Status::FailedPrecondition("host has no definition of VM " + hello.vm.ToString() + " (" +
                                      path +
                                      "): it does not receive VMs it was not "
                                      "configured for");
  }
  if (def->uuid != hello.vm) return Status::InvalidArgument(path + " defines another VM");
  if (def->backing != qemuconfig::MemoryBacking::kMemfs) {
    return Status::FailedPrecondition("VM " + def->name + ": its RAM here is not on mkd-memfs");
  }
  const uint64_t pages = def->memory_mib * (1024 * 1024 / kPageSize);
  if (hello.blocks.size() != 1 || hello.blocks[0].name != "ram" || hello.blocks[0].pages != pages) {
    return Status::InvalidArgument("the source's RAM (" + std::to_string(hello.blocks[0].pages) +
                                   " pages) does not match this host's definition (" +
                                   std::to_string(pages) + " pages)");
  }
  return std::move(*def);
}

Status Incoming::Prepare() {
  MKD_ASSIGN_OR_RETURN(qemuconfig::VmDefinition def, DefinitionForArrival(hello_, host_));
  def_ = std::move(def);
  paths_ = qemuconfig::PathsFor(def_);
  const uint64_t pages = hello_.blocks[0].pages;
  block_pages_ = {pages};
  memfs_ = host_.MemfsFor(def_);
  qemu_ = host_.QemuFor(def_);
  if (qemu_->Running()) {
    return Status::FailedPrecondition("VM " + def_.name + " already runs on this host");
  }
  // libvirt makes its QEMU listen where the source's QEMU migrates to: the same path on both
  // hosts (docs/libvirt.md).
  const std::string incoming_socket =
      paths_.run_dir + (qemu_->LibvirtStarts() ? "/migrate.sock" : "/incoming.sock");
  if (!arrivals_.Add(hello_.vm, incoming_socket, link_.peer_host())) {
    return Status::FailedPrecondition("VM " + def_.name +
                                      " is already arriving here (an earlier migration may "
                                      "still be cleaning up: try again in a few seconds)");
  }
  phase_ = Phase::kRegistered;
  MKD_RETURN_IF_ERROR(memfs_->Arrive(hello_.epoch + 1, hello_.lineage));
  phase_ = Phase::kArrived;
  MKD_RETURN_IF_ERROR(FaultPoint("serve.prepare"));
  // Our own open for writing makes the file incoming (memfs decides there whether the stored
  // incarnation is the base), so the source gets the table and sends pages while QEMU starts.
  MKD_RETURN_IF_ERROR(memfs_->PrepareRam(pages * kPageSize));
  MKD_ASSIGN_OR_RETURN(std::unique_ptr<IncomingRam> ram, memfs_->OpenRam());
  ram_ = std::move(ram);
  MKD_ASSIGN_OR_RETURN(RamFileSummary s, ram_->Summary());
  if (s.state != "incoming" || s.pages != pages) {
    return Status::FailedPrecondition(paths_.memory_file + " is " + s.state + " with " +
                                      std::to_string(s.pages) + " pages, not incoming");
  }
  MKD_ASSIGN_OR_RETURN(std::string table, ram_->TableBlob());
  // Reuse by content: the index of this host's pages is built while the table travels and the
  // first pages come (an OFFER follows at once).
  if (hello_.offers) {
    content_ = host_.ContentFor(def_, /*own_file=*/true);
    content_->Prefetch();
  }
  MKD_RETURN_IF_ERROR(link_.Send(FrameType::kTable, EncodeBlob(0, table)));
  // A libvirt domain: libvirt starts its QEMU once the source runs `virsh migrate`, after the
  // rounds; ready as far as we are concerned.
  if (qemu_->LibvirtStarts()) return link_.Send(FrameType::kReady, "{}");
  auto start = [this, incoming_socket] {
    QemuStart q = StartQemu(incoming_socket);
    if (qemu_done_fd_ >= 0) {
      const uint64_t one = 1;
      (void)!::write(qemu_done_fd_, &one, sizeof one);
    }
    return q;
  };
  if (start_mode_ == QemuStartMode::kInline) {
    qemu_start_ = std::async(std::launch::deferred, start);
    return JoinQemuStart(/*wait=*/true);
  }
  qemu_done_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (qemu_done_fd_ < 0) return Status::Io(std::string("eventfd: ") + std::strerror(errno));
  qemu_start_ = std::async(std::launch::async, start);
  return Status::Ok();
}

Incoming::QemuStart Incoming::StartQemu(const std::string& socket) {
  QemuStart q;
  q.status = qemu_->StartIncoming();
  if (!q.status.ok()) {
    q.status = q.status.WithContext("starting the destination QEMU");
    return q;
  }
  q.started = true;
  Result<std::unique_ptr<IncomingMonitor>> monitor = qemu_->ConnectMonitor(timeout_);
  if (!monitor.ok()) {
    q.status = monitor.status();
    return q;
  }
  q.monitor = std::move(*monitor);
  q.status = q.monitor->EnableIgnoreShared();
  if (q.status.ok()) q.status = q.monitor->ListenForMigration(socket);
  return q;
}

Status Incoming::JoinQemuStart(bool wait, bool ready) {
  if (!qemu_start_.valid()) return Status::Ok();
  if (!wait && qemu_start_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    return Status::Ok();
  }
  QemuStart q = qemu_start_.get();
  if (q.started) phase_ = Phase::kQemuStarted;
  monitor_ = std::move(q.monitor);
  if (!q.status.ok()) return q.status;
  return ready ? link_.Send(FrameType::kReady, "{}") : Status::Ok();
}

Status Incoming::Commit() {
  MKD_RETURN_IF_ERROR(JoinQemuStart(/*wait=*/true));  // the source had READY: it has ended
  if (qemu_->LibvirtStarts()) MKD_RETURN_IF_ERROR(FindLibvirtQemu());
  MKD_RETURN_IF_ERROR(FaultPoint("serve.commit"));
  // Commit only with a QEMU that waits for the VM's device state: without one, the VM could not
  // run here and the source must keep it.
  Result<qmp::VmStatus> st = monitor_->QueryStatus();
  if (!st.ok() || st->status != "inmigrate") {
    return Status::FailedPrecondition("the destination QEMU is " +
                                      (st.ok() ? st->status : std::string("gone")) +
                                      ", not waiting for the migration: not committing");
  }
  // Pages QEMU itself touched while starting are written back now (and refused, counted), so
  // the commit can drop every page of the file from the page cache.
  MKD_RETURN_IF_ERROR(ram_->Fsync());
  MKD_RETURN_IF_ERROR(memfs_->Commit());
  phase_ = Phase::kCommitted;
  Result<RamFileSummary> s = ram_->Summary();
  if (s.ok() && s->refused_writes > 0) {
    spdlog::warn("VM {}: QEMU wrote {} pages of its RAM file before the commit (refused)",
                 def_.name, s->refused_writes);
  }
  spdlog::info("VM {} from {}: committed in epoch {}", def_.name, link_.peer_host(),
               hello_.epoch + 1);
  if (content_ && offered_ > 0) {
    spdlog::info(
        "VM {}: {} of {} pages offered by content were taken from this host's pages in {:.3f} s "
        "({})",
        def_.name, taken_, offered_, offer_seconds_, content_->Summary());
  }
  MKD_RETURN_IF_ERROR(
      link_.Send(FrameType::kResult, EncodeResult({true, "committed", ReceivedSoFar()})));
  return FaultPoint("serve.after_commit");
}

Status Incoming::FindLibvirtQemu() {
  Result<std::unique_ptr<IncomingMonitor>> monitor = qemu_->ConnectMonitor(timeout_);
  if (!monitor.ok()) {
    return monitor.status().WithContext(
        "the destination QEMU libvirt should have started for VM " + def_.name +
        " (its domain's <qemu:commandline> gives it the monitor " + paths_.qmp_socket + ")");
  }
  monitor_ = std::move(*monitor);
  Result<qmp::VmStatus> st = monitor_->QueryStatus();
  if (!st.ok() || st->status != "inmigrate") {
    return Status::FailedPrecondition("the destination QEMU libvirt started is " +
                                      (st.ok() ? st->status : std::string("gone")) +
                                      ", not waiting for the migration: not committing");
  }
  // RAM is in memfs, not in QEMU's stream. Set before any byte of the stream reaches QEMU: the
  // source holds them until our commit.
  return monitor_->EnableIgnoreShared();
}

Status Incoming::WaitRunning() {
  const auto deadline = Clock::now() + timeout_;
  std::string why = "it did not run within the timeout";
  while (Clock::now() < deadline) {
    Result<qmp::VmStatus> st = monitor_->QueryStatus();
    if (!st.ok()) {
      why = "it is gone (" + st.status().message() + ")";
      break;
    }
    if (st->running) {
      phase_ = Phase::kRunning;
      return link_.Send(FrameType::kResult, EncodeResult({true, "running"}));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // A definite answer: this QEMU is stopped before the source hears it, so the source may resume
  // the VM without two copies ever running.
  StopQemu();
  phase_ = Phase::kQemuStopped;
  const std::string message = "the destination QEMU did not take over: " + why +
                              "; it is stopped, the VM can resume at the source";
  spdlog::warn("VM {}: {}", def_.name, message);
  (void)link_.Send(FrameType::kResult, EncodeResult({false, message}));
  return Status::FailedPrecondition(message);
}

Status Incoming::Postcopy() {
  PostcopyReceiveResult result;
  Status s = RunPostcopyReceiver(link_, *memfs_, block_pages_[0], *monitor_, timeout_, &result);
  if (s.ok()) {
    phase_ = Phase::kRunning;
    spdlog::info("VM {}: post-copy complete, every page is here", def_.name);
    return s;
  }
  // The source's pages can no longer come: reads of them fail (never a wrong page), and this
  // QEMU is stopped. Before it ran the VM goes on at the source; after, the VM is lost.
  if (ram_) {
    Status f = ram_->FailPostcopy(s.ToString());
    if (!f.ok()) spdlog::warn("failing the post-copy in memfs: {}", f.ToString());
  }
  StopQemu();
  phase_ = Phase::kQemuStopped;
  std::string message;
  if (result.ran) {
    message = "post-copy failed after the VM started here: " + s.ToString() +
              "; pages still at the source cannot arrive, the VM is stopped and lost (restart it "
              "from its disk)";
    spdlog::error("VM {}: {}", def_.name, message);
  } else {
    message = "the destination QEMU did not take over (" + s.ToString() +
              "); it is stopped, the VM can resume at the source";
    spdlog::warn("VM {}: {}", def_.name, message);
  }
  (void)link_.Send(FrameType::kResult, EncodeResult({false, message}));
  return Status::FailedPrecondition(message);
}

void Incoming::StopQemu() {
  batch_.Discard();
  ram_.reset();
  if (monitor_) monitor_->Close();
  Status stop = qemu_->Stop();
  if (!stop.ok() && stop.code() != ErrorCode::kNotFound) {
    spdlog::warn("stopping the destination QEMU: {}", stop.ToString());
  }
}

Status Incoming::Receive() {
  while (true) {
    const auto wait0 = Clock::now();
    // While QEMU starts: READY as soon as it waits for the migration, pages meanwhile.
    while (qemu_start_.valid()) {
      MKD_RETURN_IF_ERROR(JoinQemuStart(/*wait=*/false));
      if (!qemu_start_.valid() || link_.Readable(std::chrono::milliseconds(100), qemu_done_fd_)) {
        break;
      }
    }
    MKD_ASSIGN_OR_RETURN(Frame f, link_.Receive());
    received_.wait_seconds += std::chrono::duration<double>(Clock::now() - wait0).count();
    const bool pages =
        f.type == FrameType::kPages || f.type == FrameType::kPagesZ || f.type == FrameType::kZeros;
    // Every page that came before another frame is in memfs before it is handled (ZEROS flush
    // in ReceivePagesFrame). The time spent in memfs writes is the batch's (ReceivedSoFar).
    // An OFFER's pages join the batch too: what it reads of this host's pages is checked
    // against the offer's digests, whatever writes are still on their way.
    const bool offer = f.type == FrameType::kOffer;
    MKD_RETURN_IF_ERROR(pages   ? ReceivePagesFrame(*ram_, batch_, f.type, f.payload, block_pages_)
                        : offer ? Status::Ok()
                                : batch_.Flush());
    const bool committed = phase_ >= Phase::kCommitted;
    switch (f.type) {
      case FrameType::kPages:
      case FrameType::kPagesZ:
      case FrameType::kZeros:
        received_.frames += 1;
        zero_frames_ += f.type == FrameType::kZeros;
        break;
      case FrameType::kOffer:
        if (committed) return Status::InvalidArgument("OFFER after COMMIT");
        MKD_RETURN_IF_ERROR(ReceiveOffer(f.payload));
        break;
      case FrameType::kLater: {
        if (committed) return Status::InvalidArgument("LATER after COMMIT");
        MKD_ASSIGN_OR_RETURN(LaterFrame later, ParseLater(f.payload, block_pages_));
        MKD_RETURN_IF_ERROR(ram_->ReceiveLater(later.runs));
        postcopy_ = true;
        break;
      }
      case FrameType::kVerify: {
        MKD_ASSIGN_OR_RETURN(std::string d, ram_->DigestsBlob());
        MKD_RETURN_IF_ERROR(link_.Send(FrameType::kDigests, EncodeBlob(0, d)));
        if (postcopy_ && committed) {
          // The VM runs here: pages it wrote since the commit differ from the source's.
          MKD_ASSIGN_OR_RETURN(std::string dirty, ram_->DirtyBlob());
          MKD_RETURN_IF_ERROR(link_.Send(FrameType::kDirty, EncodeBlob(0, dirty)));
        }
        break;
      }
      case FrameType::kCommit:
        if (committed) return Status::InvalidArgument("a second COMMIT");
        MKD_RETURN_IF_ERROR(Commit());
        if (postcopy_) MKD_RETURN_IF_ERROR(Postcopy());
        break;
      case FrameType::kWaitRunning:
        if (!committed) return Status::InvalidArgument("WAIT_RUNNING before COMMIT");
        return WaitRunning();
      case FrameType::kAbort: {
        Result<std::string> why = ParseAbort(f.payload);
        return Status::FailedPrecondition("the source aborted: " +
                                          (why.ok() ? *why : std::string("(unreadable reason)")));
      }
      default:
        return Status::InvalidArgument("unexpected " + std::string(FrameTypeName(f.type)));
    }
  }
}

Status Incoming::ReceiveOffer(std::string_view payload) {
  MKD_ASSIGN_OR_RETURN(OfferFrame offer, ParseOffer(payload, block_pages_));
  if (!content_) {
    return Status::InvalidArgument("an OFFER from a source whose HELLO said it offers none");
  }
  const auto t0 = Clock::now();
  MKD_ASSIGN_OR_RETURN(
      std::string need,
      AnswerOffer(offer, *content_, [&](const OfferEntry& e, std::string_view page) {
        ++taken_;
        return batch_.Add(e.page, 1, e.gen, page);
      }));
  offered_ += offer.entries.size();
  offer_seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
  return link_.Send(FrameType::kNeed, need);
}

void Incoming::Abort(const std::string& why) {
  spdlog::warn("incoming VM {}: aborting before the commit: {}", hello_.vm.ToString(), why);
  // A QEMU still starting is waited for: whether it started decides whether it is stopped.
  (void)JoinQemuStart(/*wait=*/true, /*ready=*/false);
  batch_.Discard();
  ram_.reset();
  if (monitor_) monitor_->Close();
  if (phase_ >= Phase::kQemuStarted) {
    Status s = qemu_->Stop();
    if (!s.ok()) spdlog::warn("stopping the destination QEMU: {}", s.ToString());
  }
  if (phase_ >= Phase::kArrived) {
    Status s = memfs_->Abort();
    if (!s.ok()) spdlog::warn("aborting the arrival: {}", s.ToString());
  }
}

void Incoming::SettleAfterCommit() {
  const auto deadline = Clock::now() + timeout_;
  while (Clock::now() < deadline && monitor_ && monitor_->connected()) {
    Result<qmp::VmStatus> st = monitor_->QueryStatus();
    if (!st.ok()) break;  // QEMU gave up its incoming migration and exited
    if (st->running) {
      phase_ = Phase::kRunning;
      spdlog::info("VM {} runs here", def_.name);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  spdlog::warn(
      "VM {}: the switchover did not complete; stopping the destination QEMU (the VM "
      "goes on at the source)",
      def_.name);
  StopQemu();
  phase_ = Phase::kQemuStopped;
}

void Incoming::Run(const Hello& hello) {
  hello_ = hello;
  spdlog::info("incoming VM {} (epoch {}) from {}", hello.vm.ToString(), hello.epoch,
               link_.peer_host());
  Status s = Prepare();
  if (s.ok()) s = Receive();
  if (s.ok()) {
    spdlog::info("VM {} runs here", def_.name);
    return;
  }
  if (phase_ < Phase::kCommitted) {
    Refuse(s);
    Abort(s.ToString());
    return;
  }
  // After the commit this host holds the VM's memory, but the VM runs here only once QEMU got
  // its device state. If it does not within the timeout, the switchover failed and the VM goes
  // on at the source (in a fresh epoch): stop this QEMU, which never ran; its file becomes a
  // stored incarnation holding the memory as of the commit.
  spdlog::error("VM {}: after the commit: {}", def_.name, s.ToString());
  if (phase_ == Phase::kQemuStopped) return;
  SettleAfterCommit();
}

}  // namespace mkd::migrate
