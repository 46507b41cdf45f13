// Fakes of the source's ports, for unit tests (see source_fakes.h).
#include "migrate-tool/source_fakes.h"

#include <algorithm>
#include <cstring>

#include "genstore/bitmap_codec.h"
#include "genstore/digests.h"
#include "genstore/table_codec.h"
#include "genstore/zero_page.h"
#include "memfs-protocol/names.h"
#include "migrate-tool/content_digest.h"
#include "migrate-tool/page_codec.h"

namespace mkd::migrate::fakes {

// ---- FakeRam

FakeRam::FakeRam(uint64_t pages, Epoch epoch)
    : content(pages * kPageSize, '\0'), table(pages), reusable(pages) {
  summary.state = "live";
  summary.epoch = epoch;
  summary.lineage = Uuid::Random();
  summary.pages = pages;
}

int FakeRam::sync_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return syncs_done_;
}

std::vector<std::string> FakeRam::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

Result<PageBitmap> FakeRam::Next(int* done, const std::function<void(int)>& hook,
                                 std::deque<PageBitmap>* script, const char* call) {
  int n = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    n = ++*done;
  }
  if (hook) hook(n);  // unlocked: a test may hold a sync back while the session reads on
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back(call);
  if (!sync_error.ok()) return sync_error;
  if (script->empty()) return PageBitmap(summary.pages);
  PageBitmap next = std::move(script->front());
  script->pop_front();
  return next;
}

Result<PageBitmap> FakeRam::Take() { return Next(&takes_done_, on_take, &takes, "take"); }

Status FakeRam::WriteBack(uint64_t first, uint64_t count) {
  if (first + count > summary.pages) return Status::InvalidArgument("write-back past the end");
  if (on_write_back) on_write_back(first, count);
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back("write-back " + std::to_string(first) + "+" + std::to_string(count));
  return sync_error;
}

Result<std::string> FakeRam::DigestsBlob() {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back("digests");
  const std::string& of = store ? *store : content;
  std::vector<uint64_t> d(summary.pages);
  for (uint64_t p = 0; p < summary.pages; ++p) d[p] = PageDigest(of.data() + p * kPageSize);
  return EncodeDigests(CodecHeader{Uuid(), "ram", summary.epoch, 0}, d);
}

Result<GenerationTable> FakeRam::Table() {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back("table");
  return table;
}

Result<PostcopyStatus> FakeRam::Postcopy() {
  if (!postcopy) return Status::NotFound(std::string(memfs_protocol::kPostcopy));
  return *postcopy;
}

Result<PageBitmap> FakeRam::Sync() { return Next(&syncs_done_, on_sync, &syncs, "sync"); }

Result<PageBitmap> FakeRam::Reusable(std::string_view peer_table_blob) {
  if (peer_table_blob.empty()) return Status::InvalidArgument("no peer table");
  return reusable;
}

Status FakeRam::ReadPages(uint64_t first, uint64_t count, char* out) {
  if (first + count > summary.pages) return Status::InvalidArgument("read past the end");
  if (on_read) on_read(first, count);
  std::memcpy(out, content.data() + first * kPageSize, count * kPageSize);
  return Status::Ok();
}

Status FakeRam::Advance(Epoch epoch) {
  if (!advance_error.ok()) return advance_error;
  advanced_to = epoch;
  return Status::Ok();
}

// ---- FakeMonitor

bool FakeMonitor::Did(const std::string& command) const {
  for (const std::string& c : log) {
    if (c == command || c.rfind(command + " ", 0) == 0) return true;
  }
  return false;
}

Status FakeMonitor::Command(const std::string& name) {
  if (!is_connected) return Status::FailedPrecondition("QMP connection closed");
  log.push_back(name);
  if (on_command) on_command(name);
  const auto it = refuse.find(name.substr(0, name.find(' ')));
  if (it != refuse.end()) return it->second;
  return Status::Ok();
}

void FakeMonitor::Close() {
  log.push_back("close");
  is_connected = false;
}

Result<qmp::VmStatus> FakeMonitor::QueryStatus() {
  if (!is_connected) return Status::FailedPrecondition("QMP connection closed");
  return qmp::VmStatus{run_status, running};
}

Result<qmp::MigrationInfo> FakeMonitor::QueryMigrate() {
  if (!is_connected) return Status::FailedPrecondition("QMP connection closed");
  if (on_command) on_command("query-migrate");  // not logged: queries change nothing
  qmp::MigrationInfo info;
  info.status = migration;
  if (migration == "completed") info.downtime_ms = 7;
  if (migration == "failed") info.error_desc = "Unable to write to socket: Broken pipe";
  return info;
}

Result<std::vector<qmp::VcpuInfo>> FakeMonitor::QueryCpusFast() {
  if (!is_connected) return Status::FailedPrecondition("QMP connection closed");
  return std::vector<qmp::VcpuInfo>{{0, 101}, {1, 102}};
}

Status FakeMonitor::SetCapabilities(const std::vector<qmp::CapabilitySetting>& settings) {
  std::string line = "migrate-set-capabilities";
  for (const qmp::CapabilitySetting& c : settings) {
    line += " " + std::string(qmp::CapabilityName(c.capability)) + "=" + (c.state ? "on" : "off");
  }
  MKD_RETURN_IF_ERROR(Command(line));
  for (const qmp::CapabilitySetting& c : settings) {
    capabilities[std::string(qmp::CapabilityName(c.capability))] = c.state;
  }
  return Status::Ok();
}

Status FakeMonitor::SetMaxBandwidth(uint64_t bytes_per_second) {
  return Command("migrate-set-parameters max-bandwidth=" + std::to_string(bytes_per_second));
}

Status FakeMonitor::Migrate(std::string_view uri) {
  MKD_RETURN_IF_ERROR(Command("migrate " + std::string(uri)));
  migration = "pre-switchover";
  run_status = "finish-migrate";
  running = false;
  return Status::Ok();
}

Status FakeMonitor::MigrateContinue() {
  MKD_RETURN_IF_ERROR(Command("migrate-continue"));
  if (migration != "pre-switchover") return Status::Ok();
  if (continue_fails) {
    migration = "failed";
    run_status = "running";
    running = true;
  } else {
    migration = "completed";
    run_status = "postmigrate";
  }
  return Status::Ok();
}

Status FakeMonitor::MigrateCancel() {
  MKD_RETURN_IF_ERROR(Command("migrate_cancel"));
  if (migration == "setup" || migration == "active" || migration == "pre-switchover") {
    migration = "cancelled";
    run_status = "running";
    running = true;
  }
  return Status::Ok();
}

Status FakeMonitor::Cont() {
  MKD_RETURN_IF_ERROR(Command("cont"));
  run_status = "running";
  running = true;
  return Status::Ok();
}

// ---- FakeLink

void FakeLink::Reply(FrameType type, std::string payload) {
  std::lock_guard<std::mutex> lock(mu_);
  inbox_.push_back(Frame{type, std::move(payload)});
}

void FakeLink::GoDown() {
  std::lock_guard<std::mutex> lock(mu_);
  down_ = true;
}

std::vector<Frame> FakeLink::sent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sent_;
}

Status FakeLink::Down() const { return Status::Io(peer_ + ": connection reset by peer"); }

Status FakeLink::Queue(FrameType type, std::string_view head, std::string_view body) {
  Frame f{type, std::string(head)};
  f.payload.append(body);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (down_) return Down();
    sent_.push_back(f);
    bytes_sent_ += kFrameHeaderSize + f.payload.size();
  }
  on_frame_(f);  // outside the lock: the script replies
  return Status::Ok();
}

Status FakeLink::Send(FrameType type, std::string_view head, std::string_view body) {
  MKD_RETURN_IF_ERROR(Queue(type, head, body));
  return Flush();
}

Status FakeLink::Flush() {
  std::lock_guard<std::mutex> lock(mu_);
  return down_ ? Down() : Status::Ok();
}

Result<Frame> FakeLink::Receive() {
  std::lock_guard<std::mutex> lock(mu_);
  if (down_) return Down();
  if (inbox_.empty()) return Status::Io(peer_ + " sent nothing within the timeout");
  Frame f = std::move(inbox_.front());
  inbox_.pop_front();
  bytes_received_ += kFrameHeaderSize + f.payload.size();
  return f;
}

bool FakeLink::Readable(std::chrono::milliseconds) {
  std::lock_guard<std::mutex> lock(mu_);
  return down_ || !inbox_.empty();
}

uint64_t FakeLink::bytes_sent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_sent_;
}

uint64_t FakeLink::bytes_received() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_received_;
}

// ---- FakeDestination

FakeDestination::FakeDestination(const Uuid& vm, uint64_t pages)
    : memory(pages * kPageSize, '\0'), table(pages), vm_(vm), pages_(pages), dirty_(pages) {
  link_ = std::make_shared<FakeLink>([this](const Frame& f) { Handle(f); });
}

std::function<Result<std::shared_ptr<PeerLink>>()> FakeDestination::Dialer() {
  return [link = link_]() -> Result<std::shared_ptr<PeerLink>> {
    return std::shared_ptr<PeerLink>(link);
  };
}

bool FakeDestination::Saw(FrameType type) const { return Count(type) > 0; }

size_t FakeDestination::Count(FrameType type) const {
  size_t n = 0;
  for (FrameType t : frames) n += t == type;
  return n;
}

void FakeDestination::Apply(const Frame& f) {
  const bool zeros = f.type == FrameType::kZeros;
  std::string expanded;
  Result<PagesFrame> p = f.type == FrameType::kPagesZ ? ParsePagesZ(f.payload, {pages_})
                                                      : ParsePages(f.payload, zeros, {pages_});
  if (!p.ok()) return;  // a test sees it in the digests
  if (f.type == FrameType::kPagesZ) {
    PageDecompressor d;
    if (!d.Expand(p->data, uint64_t{p->count} * kPageSize, &expanded).ok()) return;
    p->data = expanded;
  }
  for (uint64_t i = 0; i < p->count; ++i) {
    const uint64_t page = p->first + i;
    if (dirty_.Test(page)) continue;  // the VM wrote it here: newer than what comes
    received_gen[page] = p->gen;
    char* to = memory.data() + page * kPageSize;
    if (zeros) {
      std::memset(to, 0, kPageSize);
    } else {
      std::memcpy(to, p->data.data() + i * kPageSize, kPageSize);
    }
  }
}

void FakeDestination::Handle(const Frame& f) {
  frames.push_back(f.type);
  const int nth = ++seen_[f.type];
  if (down_at == f.type && nth == down_at_nth) {
    link_->GoDown();
    return;
  }
  if (silent_at == f.type || failed) return;
  auto result = [this](bool ok, const std::string& message) {
    link_->Reply(FrameType::kResult, EncodeResult(ResultMsg(ok, message)));
  };
  switch (f.type) {
    case FrameType::kHello: {
      CodecHeader h{vm_, "ram", 0, 0};
      link_->Reply(FrameType::kTable, EncodeBlob(0, EncodeTable(h, table)));
      link_->Reply(FrameType::kReady, "{}");
      return;
    }
    case FrameType::kPages:
    case FrameType::kPagesZ:
    case FrameType::kZeros:
      if (armed && fail_after_pause) {
        failed = true;
        result(false, *fail_after_pause);
        return;
      }
      Apply(f);
      return;
    case FrameType::kOffer: {
      Result<OfferFrame> offer = ParseOffer(f.payload, {pages_});
      if (!offer.ok()) return;  // a test sees it in the digests
      std::vector<uint64_t> needed;
      for (const OfferEntry& e : offer->entries) {
        bool found = false;
        for (uint64_t p = 0; p < pages_ && !found; ++p) {
          const char* held = memory.data() + p * kPageSize;
          if (PageDigest(held) == e.digest && PageSha256(held) == e.sha256) {
            std::memmove(memory.data() + e.page * kPageSize, held, kPageSize);
            received_gen[e.page] = e.gen;
            found = true;
          }
        }
        if (!found) needed.push_back(e.page);
      }
      if (need_extra) needed = {*need_extra};
      link_->Reply(FrameType::kNeed,
                   EncodeNeed(offer->block, static_cast<uint32_t>(offer->entries.size()), needed));
      return;
    }
    case FrameType::kLater: {
      Result<LaterFrame> l = ParseLater(f.payload, {pages_});
      if (l.ok()) later.insert(later.end(), l->runs.begin(), l->runs.end());
      return;
    }
    case FrameType::kVerify: {
      std::vector<uint64_t> digests(pages_);
      for (uint64_t p = 0; p < pages_; ++p) {
        digests[p] = PageDigest(memory.data() + p * kPageSize);
      }
      if (corrupt_page) digests[*corrupt_page] ^= 1;
      CodecHeader h{vm_, "ram", 0, 0};
      link_->Reply(FrameType::kDigests, EncodeBlob(0, EncodeDigests(h, digests)));
      if (postcopy) link_->Reply(FrameType::kDirty, EncodeBlob(0, EncodeBitmap(h, dirty_)));
      return;
    }
    case FrameType::kCommit:
      if (refuse_commit) {
        result(false, *refuse_commit);
        return;
      }
      committed = true;
      if (on_commit) on_commit();
      link_->Reply(FrameType::kResult,
                   EncodeResult(ResultMsg(true, "committed", ReceiveStats{3, 2, 0.0, 0.0})));
      if (postcopy) {
        if (postcopy_not_running) {
          result(false, *postcopy_not_running);
        } else {
          if (write_during_postcopy) {
            dirty_.Set(*write_during_postcopy);
            std::memset(memory.data() + *write_during_postcopy * kPageSize, 0x5a, kPageSize);
          }
          result(true, "running");
        }
      }
      return;
    case FrameType::kPostcopyEnd:
      link_->Reply(FrameType::kPostcopyDone, EncodePostcopyDone(PostcopyDone{}));
      return;
    case FrameType::kWaitRunning:
      if (not_running) {
        result(false, *not_running);
      } else {
        result(true, "running");
      }
      return;
    default:
      return;
  }
}

// ---- FakeVm

namespace {

class Stream final : public QemuStream {
 public:
  Stream(std::string path, FakeVm* vm) : path_(std::move(path)), vm_(vm) {}
  const std::string& path() const override { return path_; }
  void Release() override { vm_->stream_released = vm_->stream_held; }
  Status Join() override { return vm_->stream_join; }
  void Cancel() override { vm_->stream_cancelled = true; }
  uint64_t bytes() const override { return FakeVm::kStreamBytes; }
  uint64_t wire_bytes() const override { return FakeVm::kStreamWireBytes; }

 private:
  std::string path_;
  FakeVm* vm_;
};

class Throttle final : public CpuThrottle {
 public:
  explicit Throttle(FakeVm* vm) : vm_(vm) {}
  Status Set(uint32_t percent) override {
    vm_->throttle_percents.push_back(percent);
    vm_->throttle_restored = false;
    percent_ = percent;
    return Status::Ok();
  }
  uint32_t percent() const override { return percent_; }
  Status Restore() override {
    vm_->throttle_restored = true;
    return Status::Ok();
  }
  double ThrottledSeconds() const override { return 0.5; }

 private:
  FakeVm* vm_;
  uint32_t percent_ = 0;
};

}  // namespace

Result<std::unique_ptr<QemuStream>> FakeVm::OpenStream(const std::string& path, const StreamHello&,
                                                       bool hold) {
  stream_opened = true;
  stream_held = hold;
  return std::unique_ptr<QemuStream>(std::make_unique<Stream>(path, this));
}

Result<std::unique_ptr<CpuThrottle>> FakeVm::Throttle(const std::vector<int>& tids) {
  if (!throttle_error.ok()) return throttle_error;
  if (tids.empty()) return Status::InvalidArgument("no vCPU threads");
  return std::unique_ptr<CpuThrottle>(std::make_unique<fakes::Throttle>(this));
}

// ---- FakeDomainMigration

Status FakeDomainMigration::Start(const std::string& migrate_uri) {
  log.push_back("start " + migrate_uri);
  if (on_start) on_start();
  if (!start_fails.ok()) return start_fails;
  if (ends_early) {
    done_ = *ends_early;
    return Status::Ok();
  }
  // QEMU migrates (libvirt's `migrate` on its own monitor), pauses the VM and libvirt answers
  // pre-switchover: the device state now waits in our held stream.
  auto pause = [m = monitor_] {
    m->migration = "device";
    m->run_status = "finish-migrate";
    m->running = false;
  };
  if (queries_before_pause == 0) {
    pause();
    return Status::Ok();
  }
  monitor_->on_command = [this, pause, left = queries_before_pause](const std::string& c) mutable {
    if (c != "query-migrate" || left == 0) return;
    if (while_starting) while_starting();
    if (--left == 0) pause();
  };
  return Status::Ok();
}

std::optional<Status> FakeDomainMigration::Poll() { return done_; }

Status FakeDomainMigration::Wait(std::chrono::milliseconds) {
  log.push_back("wait");
  if (done_) return *done_;
  if (!vm_->stream_released) return Status::Io("libvirt's migration did not end (stream held)");
  monitor_->migration = outcome.ok() ? "completed" : "failed";
  if (!outcome.ok()) {
    monitor_->run_status = "running";  // libvirt resumes the domain here
    monitor_->running = true;
  } else {
    monitor_->run_status = "postmigrate";
  }
  done_ = outcome;
  return outcome;
}

Status FakeDomainMigration::Abort() {
  log.push_back("abort");
  if (done_) return Status::Ok();
  if (monitor_->migration == "device" || monitor_->migration == "active") {
    monitor_->migration = "failed";
    monitor_->run_status = "running";
    monitor_->running = true;
  }
  done_ = Status::FailedPrecondition("operation aborted: migration out job: canceled by client");
  return Status::Ok();
}

}  // namespace mkd::migrate::fakes
