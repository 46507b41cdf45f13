// The destination service (see serve.h and docs/migrate.md).
#include "migrate-tool/serve.h"

#include <netdb.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "genstore/log_limiter.h"
#include "memfs-protocol/arrival.h"
#include "memfs-protocol/names.h"
#include "migrate-tool/arrivals.h"
#include "migrate-tool/channel.h"
#include "migrate-tool/connection_pool.h"
#include "migrate-tool/fault_points.h"
#include "migrate-tool/net.h"
#include "migrate-tool/postcopy_serve.h"
#include "migrate-tool/ram_file.h"
#include "migrate-tool/receive_batch.h"
#include "migrate-tool/stream_tunnel.h"
#include "qemu-config/command_line.h"
#include "qemu-config/qmp/client.h"
#include "qemu-config/vm_control.h"
#include "qemu-config/vm_definition.h"

namespace mkd::migrate {
namespace {

using Clock = std::chrono::steady_clock;

class Incoming {
 public:
  Incoming(const ServeOptions& o, Channel& ch, Arrivals& arrivals)
      : o_(o), ch_(ch), arrivals_(arrivals) {}
  ~Incoming() {
    if (registered_) {
      arrivals_.Remove(hello_.vm);
      spdlog::info("incoming VM {}: session ended", hello_.vm.ToString());
    }
  }
  void Run(const Hello& hello);

 private:
  Status Prepare();
  Status Receive();
  Status Commit();
  Status WaitRunning();
  // After a post-copy commit: runs the post-copy loop; on failure fails it and stops QEMU.
  Status Postcopy();
  void Abort(const std::string& why);
  // Stops the destination QEMU (after the commit: its file becomes a stored incarnation).
  void StopQemu();
  void Refuse(const Status& why) {
    spdlog::warn("incoming VM {} from {}: {}", hello_.vm.ToString(), ch_.peer_host(),
                 why.ToString());
    (void)ch_.Send(FrameType::kResult, EncodeResult({false, why.ToString()}));
  }

  const ServeOptions& o_;
  Channel& ch_;
  Arrivals& arrivals_;
  Hello hello_;
  qemuconfig::VmDefinition def_;
  qemuconfig::VmPaths paths_;
  std::optional<RamFile> ram_;
  std::optional<qmp::QmpClient> qmp_;
  std::vector<uint64_t> block_pages_;
  bool registered_ = false;
  bool arrived_ = false;
  bool started_ = false;
  bool committed_ = false;
  ReceiveStats received_;  // frames of pages so far and the time spent on them (writes: below)
  // received_ with its memfs writes: the batch's and one per ZEROS frame (to COMMIT's RESULT).
  ReceiveStats ReceivedSoFar() const {
    ReceiveStats r = received_;
    r.writes = batch_.writes() + zero_frames_;
    return r;
  }
  // Received pages on their way into memfs; flushed before any other frame is handled.
  ReceiveBatch batch_{[this](const std::vector<memfs_protocol::LaterRun>& runs,
                             std::string_view data) { return ram_->ReceiveRuns(runs, data); }};
  uint64_t zero_frames_ = 0;
  bool stopped_after_commit_ = false;  // WaitRunning or Postcopy stopped QEMU, told the source
  bool postcopy_ = false;              // the source sent LATER pages: a post-copy arrival
};

Status Incoming::Prepare() {
  const std::string path = o_.vm_dir + "/" + hello_.vm.ToString() + ".json";
  if (!std::filesystem::exists(path)) {
    return Status::FailedPrecondition("host has no definition of VM " + hello_.vm.ToString() +
                                      " (" + path +
                                      "): it does not receive VMs it was not "
                                      "configured for");
  }
  Result<qemuconfig::VmDefinition> def = qemuconfig::LoadVmDefinition(path);
  if (!def.ok()) return def.status();
  def_ = std::move(*def);
  paths_ = qemuconfig::PathsFor(def_);
  if (def_.uuid != hello_.vm) return Status::InvalidArgument(path + " defines another VM");
  if (def_.backing != qemuconfig::MemoryBacking::kMemfs) {
    return Status::FailedPrecondition("VM " + def_.name + ": its RAM here is not on mkd-memfs");
  }
  const uint64_t pages = def_.memory_mib * (1024 * 1024 / kPageSize);
  if (hello_.blocks.size() != 1 || hello_.blocks[0].name != "ram" ||
      hello_.blocks[0].pages != pages) {
    return Status::InvalidArgument("the source's RAM (" + std::to_string(hello_.blocks[0].pages) +
                                   " pages) does not match this host's definition (" +
                                   std::to_string(pages) + " pages)");
  }
  block_pages_ = {pages};
  if (qemuconfig::RunningPid(def_)) {
    return Status::FailedPrecondition("VM " + def_.name + " already runs on this host");
  }
  const std::string incoming_socket = paths_.run_dir + "/incoming.sock";
  if (!arrivals_.Add(hello_.vm, incoming_socket, ch_.peer_host())) {
    return Status::FailedPrecondition("VM " + def_.name +
                                      " is already arriving here (an earlier migration may "
                                      "still be cleaning up: try again in a few seconds)");
  }
  registered_ = true;
  std::error_code ec;
  std::filesystem::create_directories(paths_.memory_dir, ec);
  if (ec) return Status::Io(paths_.memory_dir + ": " + ec.message());
  MKD_RETURN_IF_ERROR(SetVmDirXattr(
      paths_.memory_dir, memfs_protocol::kArrive,
      memfs_protocol::FormatArrival({static_cast<Epoch>(hello_.epoch + 1), hello_.lineage})));
  arrived_ = true;
  MKD_RETURN_IF_ERROR(FaultPoint("serve.prepare"));
  qemuconfig::StartOptions so;
  so.incoming = true;
  so.accel = o_.accel;
  so.accel_cache = o_.accel_cache;
  so.qemu_binary = o_.qemu_binary;
  Result<qemuconfig::StartedVm> vm = qemuconfig::StartVm(def_, so);
  if (!vm.ok()) return vm.status().WithContext("starting the destination QEMU");
  started_ = true;
  Result<qmp::QmpClient> q = qmp::QmpClient::Connect(paths_.qmp_socket, o_.timeout);
  if (!q.ok()) return q.status();
  qmp_ = std::move(*q);
  Result<nlohmann::json> caps =
      qmp_->Execute("migrate-set-capabilities",
                    {{"capabilities", {{{"capability", "x-ignore-shared"}, {"state", true}}}}});
  if (!caps.ok()) return caps.status();
  ::unlink(incoming_socket.c_str());
  Result<nlohmann::json> in =
      qmp_->Execute("migrate-incoming", {{"uri", "unix:" + incoming_socket}});
  if (!in.ok()) return in.status();
  Result<RamFile> ram = RamFile::Open(paths_.memory_file);
  if (!ram.ok()) return ram.status();
  ram_ = std::move(*ram);
  Result<RamFileSummary> s = ram_->Summary();
  if (!s.ok()) return s.status();
  if (s->state != "incoming" || s->pages != pages) {
    return Status::FailedPrecondition(paths_.memory_file + " is " + s->state + " with " +
                                      std::to_string(s->pages) + " pages, not incoming");
  }
  Result<std::string> table = ram_->TableBlob();
  if (!table.ok()) return table.status();
  MKD_RETURN_IF_ERROR(ch_.Send(FrameType::kTable, EncodeBlob(0, *table)));
  return ch_.Send(FrameType::kReady, "{}");
}

Status Incoming::Commit() {
  MKD_RETURN_IF_ERROR(FaultPoint("serve.commit"));
  // Commit only with a QEMU that waits for the VM's device state: without one, the VM could not
  // run here and the source must keep it.
  Result<qmp::VmStatus> st = qmp_->QueryStatus();
  if (!st.ok() || st->status != "inmigrate") {
    return Status::FailedPrecondition("the destination QEMU is " +
                                      (st.ok() ? st->status : std::string("gone")) +
                                      ", not waiting for the migration: not committing");
  }
  // Pages QEMU itself touched while starting are written back now (and refused, counted), so
  // the commit can drop every page of the file from the page cache.
  MKD_RETURN_IF_ERROR(ram_->Fsync());
  MKD_RETURN_IF_ERROR(
      SetVmDirXattr(paths_.memory_dir, memfs_protocol::kCommit, memfs_protocol::kTriggerValue));
  committed_ = true;
  Result<RamFileSummary> s = ram_->Summary();
  if (s.ok() && s->refused_writes > 0) {
    spdlog::warn("VM {}: QEMU wrote {} pages of its RAM file before the commit (refused)",
                 def_.name, s->refused_writes);
  }
  spdlog::info("VM {} from {}: committed in epoch {}", def_.name, ch_.peer_host(),
               hello_.epoch + 1);
  MKD_RETURN_IF_ERROR(ch_.Send(FrameType::kResult, EncodeResult({true, "committed", ReceivedSoFar()})));
  return FaultPoint("serve.after_commit");
}

Status Incoming::WaitRunning() {
  const auto deadline = Clock::now() + o_.timeout;
  std::string why = "it did not run within the timeout";
  while (Clock::now() < deadline) {
    Result<qmp::VmStatus> st = qmp_->QueryStatus();
    if (!st.ok()) {
      why = "it is gone (" + st.status().message() + ")";
      break;
    }
    if (st->running) {
      return ch_.Send(FrameType::kResult, EncodeResult({true, "running"}));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // A definite answer: this QEMU is stopped before the source hears it, so the source may resume
  // the VM without two copies ever running.
  StopQemu();
  const std::string message = "the destination QEMU did not take over: " + why +
                              "; it is stopped, the VM can resume at the source";
  spdlog::warn("VM {}: {}", def_.name, message);
  (void)ch_.Send(FrameType::kResult, EncodeResult({false, message}));
  stopped_after_commit_ = true;
  return Status::FailedPrecondition(message);
}

Status Incoming::Postcopy() {
  PostcopyReceiveResult result;
  Status s =
      RunPostcopyReceiver(ch_, paths_.memory_file, block_pages_[0], *qmp_, o_.timeout, &result);
  if (s.ok()) {
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
  stopped_after_commit_ = true;
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
  (void)ch_.Send(FrameType::kResult, EncodeResult({false, message}));
  return Status::FailedPrecondition(message);
}

void Incoming::StopQemu() {
  ram_.reset();
  if (qmp_) qmp_->Close();
  Status stop = qemuconfig::StopVm(def_, std::chrono::seconds(5));
  if (!stop.ok() && stop.code() != ErrorCode::kNotFound) {
    spdlog::warn("stopping the destination QEMU: {}", stop.ToString());
  }
}

Status Incoming::Receive() {
  while (true) {
    const auto wait0 = Clock::now();
    Result<Frame> f = ch_.Receive();
    if (!f.ok()) return f.status();
    const auto write0 = Clock::now();
    received_.wait_seconds += std::chrono::duration<double>(write0 - wait0).count();
    const bool pages = f->type == FrameType::kPages || f->type == FrameType::kZeros;
    // Every page that came before another frame is in memfs before it is handled (ZEROS flush
    // in ReceivePagesFrame).
    MKD_RETURN_IF_ERROR(pages ? ReceivePagesFrame(*ram_, batch_, f->type, f->payload, block_pages_)
                              : batch_.Flush());
    received_.write_seconds += std::chrono::duration<double>(Clock::now() - write0).count();
    switch (f->type) {
      case FrameType::kPages:
      case FrameType::kZeros:
        received_.frames += 1;
        zero_frames_ += f->type == FrameType::kZeros;
        break;
      case FrameType::kLater: {
        if (committed_) return Status::InvalidArgument("LATER after COMMIT");
        Result<LaterFrame> later = ParseLater(f->payload, block_pages_);
        if (!later.ok()) return later.status();
        MKD_RETURN_IF_ERROR(ram_->ReceiveLater(later->runs));
        postcopy_ = true;
        break;
      }
      case FrameType::kVerify: {
        Result<std::string> d = ram_->DigestsBlob();
        if (!d.ok()) return d.status();
        MKD_RETURN_IF_ERROR(ch_.Send(FrameType::kDigests, EncodeBlob(0, *d)));
        if (postcopy_ && committed_) {
          // The VM runs here: pages it wrote since the commit differ from the source's.
          Result<std::string> dirty = ram_->DirtyBlob();
          if (!dirty.ok()) return dirty.status();
          MKD_RETURN_IF_ERROR(ch_.Send(FrameType::kDirty, EncodeBlob(0, *dirty)));
        }
        break;
      }
      case FrameType::kCommit:
        if (committed_) return Status::InvalidArgument("a second COMMIT");
        MKD_RETURN_IF_ERROR(Commit());
        if (postcopy_) MKD_RETURN_IF_ERROR(Postcopy());
        break;
      case FrameType::kWaitRunning:
        if (!committed_) return Status::InvalidArgument("WAIT_RUNNING before COMMIT");
        return WaitRunning();
      case FrameType::kAbort: {
        Result<std::string> why = ParseAbort(f->payload);
        return Status::FailedPrecondition("the source aborted: " +
                                          (why.ok() ? *why : std::string("(unreadable reason)")));
      }
      default:
        return Status::InvalidArgument("unexpected " + std::string(FrameTypeName(f->type)));
    }
  }
}

void Incoming::Abort(const std::string& why) {
  spdlog::warn("incoming VM {}: aborting before the commit: {}", hello_.vm.ToString(), why);
  ram_.reset();
  if (qmp_) qmp_->Close();
  if (started_) {
    Status s = qemuconfig::StopVm(def_, std::chrono::seconds(5));
    if (!s.ok()) spdlog::warn("stopping the destination QEMU: {}", s.ToString());
  }
  if (arrived_) {
    Status s =
        SetVmDirXattr(paths_.memory_dir, memfs_protocol::kAbort, memfs_protocol::kTriggerValue);
    if (!s.ok()) spdlog::warn("aborting the arrival: {}", s.ToString());
  }
}

void Incoming::Run(const Hello& hello) {
  hello_ = hello;
  spdlog::info("incoming VM {} (epoch {}) from {}", hello.vm.ToString(), hello.epoch,
               ch_.peer_host());
  Status s = Prepare();
  if (s.ok()) s = Receive();
  if (s.ok()) {
    spdlog::info("VM {} runs here", def_.name);
    return;
  }
  if (!committed_) {
    Refuse(s);
    Abort(s.ToString());
    return;
  }
  // After the commit this host holds the VM's memory, but the VM runs here only once QEMU got
  // its device state. If it does not within the timeout, the switchover failed and the VM goes
  // on at the source (in a fresh epoch): stop this QEMU, which never ran; its file becomes a
  // stored incarnation holding the memory as of the commit.
  spdlog::error("VM {}: after the commit: {}", def_.name, s.ToString());
  if (stopped_after_commit_) return;
  const auto deadline = Clock::now() + o_.timeout;
  while (Clock::now() < deadline && qmp_ && qmp_->connected()) {
    Result<qmp::VmStatus> st = qmp_->QueryStatus();
    if (!st.ok()) break;  // QEMU gave up its incoming migration and exited
    if (st->running) {
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
}

// Serves one connection: TLS handshake and first frame within o.handshake_timeout, then the
// control session (HELLO) or a QEMU stream (STREAM_HELLO). Runs on the connection's thread.
void ServeConnection(const ServeOptions& o, const peer::TlsContext& tls, int fd,
                     const std::string& address, Arrivals& arrivals) {
  const auto handshake_deadline = Clock::now() + o.handshake_timeout;
  Result<peer::TlsStream> stream = peer::TlsStream::Accept(tls, fd, o.handshake_timeout);
  if (!stream.ok()) {
    spdlog::warn("refused a connection from {}: {}", address, stream.status().ToString());
    return;
  }
  Channel ch(std::move(*stream));
  ch.SetTimeout(o.timeout);
  ch.SetMaxPayload(o.max_frame_bytes);
  ch.SetDeadline(handshake_deadline);
  Result<Frame> first = ch.Receive();
  if (!first.ok()) {
    spdlog::warn("{} ({}): no first frame within the handshake limit of {} ms, or a bad one: {}",
                 ch.peer_host(), address, o.handshake_timeout.count(), first.status().ToString());
    if (first.status().code() == ErrorCode::kInvalidArgument) {
      (void)ch.Send(FrameType::kResult, EncodeResult({false, first.status().ToString()}));
    }
    return;
  }
  ch.SetDeadline(Clock::time_point::max());
  if (first->type == FrameType::kHello) {
    Result<Hello> hello = ParseHello(first->payload);
    Status s =
        hello.ok() ? CheckSourceHost("HELLO", hello->source_host, ch.peer_host()) : hello.status();
    if (!s.ok()) {
      spdlog::warn("{} ({}): {}", ch.peer_host(), address, s.ToString());
      (void)ch.Send(FrameType::kResult, EncodeResult({false, s.ToString()}));
      return;
    }
    Incoming(o, ch, arrivals).Run(*hello);
  } else if (first->type == FrameType::kStreamHello) {
    Result<StreamHello> hello = ParseStreamHello(first->payload);
    Status s = hello.ok() ? CheckSourceHost("STREAM_HELLO", hello->source_host, ch.peer_host())
                          : hello.status();
    Result<std::string> socket = s;
    if (s.ok()) socket = arrivals.ClaimStream(hello->vm, ch.peer_host());
    if (!socket.ok()) {
      spdlog::warn("{} ({}): {}", ch.peer_host(), address, socket.status().ToString());
      return;
    }
    s = PumpIntoQemu(ch, *socket);
    if (!s.ok()) spdlog::warn("QEMU stream of VM {}: {}", hello->vm.ToString(), s.ToString());
  } else {
    spdlog::warn("{} ({}): first frame {} refused", ch.peer_host(), address,
                 FrameTypeName(first->type));
  }
}

// "10.0.0.1:51234" for the log; "?" when the kernel does not say.
std::string PeerAddress(const sockaddr_storage& sa, socklen_t len) {
  char host[NI_MAXHOST], port[NI_MAXSERV];
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&sa), len, host, sizeof(host), port,
                    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "?";
  }
  return std::string(host) + ":" + port;
}

// Refusals beyond the bound come in floods: one log line per second at most, with a count.
void LogRefusal(LogLimiter& limiter, const std::string& address, const Status& why) {
  if (std::optional<uint64_t> left_out = limiter.Admit()) {
    spdlog::warn("refused a connection from {} at once: {}{}", address, why.ToString(),
                 *left_out > 0 ? " (and " + std::to_string(*left_out) +
                                     " more refused since the last such line)"
                               : std::string());
  }
}

}  // namespace

Status RunServe(const ServeOptions& o, const std::atomic<bool>& stop) {
  if (o.max_sessions == 0 || o.max_frame_bytes == 0 || o.handshake_timeout.count() <= 0) {
    return Status::InvalidArgument(
        "serve: --max-sessions, --max-frame-bytes and --handshake-timeout must be above 0");
  }
  Result<peer::TlsContext> tls = peer::TlsContext::Create(o.tls, /*server=*/true);
  if (!tls.ok()) return tls.status();
  Result<int> listen_fd = ListenTcp(o.listen);
  if (!listen_fd.ok()) return listen_fd.status();
  spdlog::info("mkd-migrate serve: listening on {}, VM definitions in {}", o.listen, o.vm_dir);
  spdlog::info(
      "mkd-migrate serve: limits: --max-sessions {} (connections served at once), "
      "--max-frame-bytes {} (one frame per connection), --handshake-timeout {} s (TLS handshake "
      "and first frame), --timeout {} s (no progress)",
      o.max_sessions, o.max_frame_bytes, std::chrono::duration<double>(o.handshake_timeout).count(),
      std::chrono::duration<double>(o.timeout).count());
  Arrivals arrivals;
  ConnectionPool pool(o.max_sessions);
  LogLimiter refusals(1);
  while (!stop.load()) {
    pool.Reap();
    pollfd p{*listen_fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    sockaddr_storage sa{};
    socklen_t len = sizeof(sa);
    int fd = ::accept4(*listen_fd, reinterpret_cast<sockaddr*>(&sa), &len, SOCK_CLOEXEC);
    if (fd < 0) continue;
    const std::string address = PeerAddress(sa, len);
    Status admitted = pool.Admit(
        [&o, &tls, fd, address, &arrivals] { ServeConnection(o, *tls, fd, address, arrivals); });
    if (!admitted.ok()) {
      ::close(fd);
      LogRefusal(refusals, address, admitted);
    }
  }
  ::close(*listen_fd);
  pool.JoinAll();
  return Status::Ok();
}

}  // namespace mkd::migrate
