// The source side of a migration, its pre-copy sequence (see source.h and docs/migrate.md):
// SourceSession's steps from Prepare to Finish, through its ports only (source_ports.h); and
// RunSource, which opens the real ports and runs a session.
#include "migrate-tool/source.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <optional>
#include <thread>

#include "genstore/bitmap_codec.h"
#include "genstore/digests.h"
#include "genstore/table_codec.h"
#include "memfs-protocol/arrival.h"
#include "memfs-protocol/names.h"
#include "migrate-tool/channel.h"
#include "migrate-tool/fault_points.h"
#include "migrate-tool/page_sender.h"
#include "migrate-tool/source_adapters.h"
#include "migrate-tool/source_session.h"
#include "qemu-config/command_line.h"

namespace mkd::migrate {
namespace internal {
namespace {

// The guest's memory read through the mount (the page cache, i.e. what the guest sees), not
// the page store: digests of pages [first, first + count) into out[first..].
Status DigestRange(SourceRam& ram, uint64_t first, uint64_t count, std::string* buf,
                   std::vector<uint64_t>* out) {
  for (uint64_t at = first; at < first + count;) {
    const uint64_t n = std::min<uint64_t>(kMaxPagesPerFrame, first + count - at);
    MKD_RETURN_IF_ERROR(ram.ReadPages(at, n, buf->data()));
    for (uint64_t i = 0; i < n; ++i) (*out)[at + i] = PageDigest(buf->data() + i * kPageSize);
    at += n;
  }
  return Status::Ok();
}

}  // namespace

uint64_t SourceSession::WireBytes() const {
  uint64_t b = ch_ ? ch_->bytes_sent() + ch_->bytes_received() : 0;
  if (tunnel_) b += tunnel_->wire_bytes();
  return b;
}

void SourceSession::Report(const std::string& phase, uint64_t done, uint64_t total) {
  if (progress_) progress_(Progress{phase, done, total, WireBytes(), Since(start_)});
}

Status SourceSession::Prepare() {
  StageTimer timer(&r_->pipe.prepare);
  const std::string memory_file = qemuconfig::PathsFor(def_).memory_file;
  MKD_ASSIGN_OR_RETURN(RamFileSummary s, ram_->Summary());
  summary_ = s;
  if (summary_.state != "live") {
    return Status::FailedPrecondition(memory_file + " is " + summary_.state +
                                      ", not live: is the VM running here?");
  }
  // A VM that arrived by post-copy cannot leave before every page is here.
  if (Result<PostcopyStatus> pc = ram_->Postcopy(); pc.ok() && pc->state == "active") {
    return Status::FailedPrecondition("VM " + def_.name + " is still receiving " +
                                      std::to_string(pc->missing) +
                                      " pages by post-copy; migrate it once that completed");
  }
  r_->vm = def_.uuid.ToString();
  r_->pages_total = summary_.pages;
  r_->source_epoch = summary_.epoch;
  r_->destination_epoch = summary_.epoch + 1;
  phase_ = SourcePhase::kCopying;  // from here on a failure puts QEMU back: running, caps off
  MKD_ASSIGN_OR_RETURN(qmp::VmStatus st, monitor_->QueryStatus());
  if (st.status != "running") {
    return Status::FailedPrecondition(
        "the source QEMU is " + st.status +
        ", not running (after an interrupted migration: mkd-migrate recover " + def_.name + ")");
  }
  // RAM is ours to move: QEMU skips shared RAM blocks and waits for us before the switchover.
  MKD_RETURN_IF_ERROR(monitor_->SetCapabilities(MkdCapabilities(true)));
  MKD_RETURN_IF_ERROR(monitor_->SetMaxBandwidth(uint64_t{1} << 40));
  return Status::Ok();
}

Status SourceSession::Handshake() {
  StageTimer timer(&r_->pipe.handshake);
  Report("connecting", 0, 0);
  MKD_ASSIGN_OR_RETURN(std::shared_ptr<PeerLink> ch, dial_());
  ch_ = std::move(ch);
  ch_->SetBandwidth(o_.bandwidth);
  Hello hello = HelloFor(def_.uuid, summary_, o_.host_id);
  hello.offers = o_.reuse && o_.content_reuse;  // else the destination builds no index
  MKD_RETURN_IF_ERROR(ch_->Send(FrameType::kHello, EncodeHello(hello)));
  // The dirty log starts while the destination prepares the arrival: it does not depend on the
  // destination.
  MKD_RETURN_IF_ERROR(StartDirtyLog());
  // The destination answers with its table once the arrival is prepared. An older serve starts
  // its QEMU before it answers, which takes a while: allow for that.
  ch_->SetTimeout(o_.timeout + std::chrono::seconds(30));
  MKD_ASSIGN_OR_RETURN(Frame table, ch_->Expect(FrameType::kTable));
  MKD_ASSIGN_OR_RETURN(BlobFrame blob, ParseBlob(table.payload, 1));
  Result<DecodedTable> decoded = DecodeTable(blob.blob);
  if (!decoded.ok()) return decoded.status().WithContext("destination table");
  if (decoded->header.vm != def_.uuid || decoded->table.pages() != summary_.pages) {
    return Status::InvalidArgument("the destination's table is of another VM or size");
  }
  peer_table_ = std::move(decoded->table);
  peer_table_blob_ = std::string(blob.blob);
  offers_ = ContentOffers(o_.reuse && o_.content_reuse);
  // Pages may go now: the destination starts its QEMU meanwhile and says READY when it waits
  // for the migration, which the switchover waits for (StartSwitchover).
  ch_->SetTimeout(o_.timeout);
  r_->setup_seconds = Since(start_);
  return FaultPoint("source.handshake");
}

Status SourceSession::AwaitReady() {
  StageTimer timer(&r_->pipe.ready);
  Report("waiting for the destination's QEMU", 0, 0);
  ch_->SetTimeout(o_.timeout + std::chrono::seconds(30));  // starting QEMU takes a while
  if (ready_early_) return Status::Ok();  // it came while the first pass's NEEDs were taken
  Result<Frame> ready = ch_->Expect(FrameType::kReady);
  ch_->SetTimeout(o_.timeout);
  return ready.status();
}

Status SourceSession::SendZeros(uint64_t first, uint64_t count, Generation gen) {
  for (uint64_t p = first; p < first + count; ++p) fate_[p] = PageFate::kZeroSent;
  r_->zero_transfers += count;
  return ch_->Queue(FrameType::kZeros,
                   EncodePagesHeader(kBlock, first, static_cast<uint32_t>(count), gen));
}

void SourceSession::Sent(const SentRun& run) {
  for (uint64_t p = run.first; p < run.first + run.count; ++p) {
    fate_[p] = run.zero ? PageFate::kZeroSent : PageFate::kSent;
  }
  if (run.zero) {
    r_->zero_transfers += run.count;
  } else {
    r_->page_transfers += run.count;
    r_->page_bytes += run.count * kPageSize;
  }
}

Status SourceSession::SendPages(const PageBitmap& pages,
                                const std::function<Generation(uint64_t)>& gen_of,
                                const std::string& phase, bool overlap_sync, bool offer) {
  std::string buf(kMaxPagesPerFrame * kPageSize, '\0');
  uint64_t total = pages.Count();
  uint64_t done = 0;
  Status status;
  auto last_report = Clock::now();
  const auto t0 = Clock::now();
  const uint64_t bytes0 = ch_->bytes_sent();
  auto sent = [this](const SentRun& run) {
    if (r_->pipe.first_page == 0) r_->pipe.first_page = Since(start_);
    Sent(run);
  };
  PageBitmap todo = pages;          // not sent yet
  PageBitmap fresh(pages.pages());  // delivered by the write-back: written in this epoch
  const Epoch e = summary_.epoch;
  auto gen = [&](uint64_t p) { return fresh.Test(p) ? e : gen_of(p); };
  // The write-back's pages join as they come; a page delivered after it went goes again.
  auto merge = [&](bool wait) -> Result<bool> {
    MKD_ASSIGN_OR_RETURN(std::optional<PageBitmap> got, TakeStreamed(wait));
    if (!got) return false;
    fresh.Or(*got);
    const uint64_t before = todo.Count();
    todo.Or(*got);
    total += todo.Count() - before;
    return true;
  };
  uint64_t at = 0;
  while (status.ok()) {
    if (Streaming()) {
      Result<bool> more = merge(false);
      if (!more.ok()) {
        status = more.status();
        break;
      }
      if (*more) at = 0;
    }
    at = todo.NextSet(at);
    if (at >= todo.pages()) {
      if (!Streaming()) break;
      StageTimer timer(&r_->pipe.sync);  // nothing left to send until the write-back delivers
      Result<bool> more = merge(true);
      if (!more.ok()) status = more.status();
      at = 0;
      continue;
    }
    uint64_t n = 1;
    while (n < kMaxPagesPerFrame && at + n < todo.pages() && todo.Test(at + n)) ++n;
    if (LibvirtDue(static_cast<double>((total - done) * kPageSize) / LinkRateOr(LinkRate()))) {
      status = StartLibvirt();
      if (!status.ok()) break;
    }
    if (compress_) compress_->link_bytes_per_second = LinkRate();
    // A full window is waited for only where offers_ says so; else the range goes as pages
    // (and AnswerNeeds takes only the NEEDs that came).
    const bool room = offers_.pending_pages() + pending_offer_.size() < offers_.window();
    if (offer && offers_.offering() && (room || offers_.waits())) {
      status = OfferPageRange(at, n, buf.data(), gen, sent);
    } else {
      status = FlushOffer();  // pages offered before these go first
      if (status.ok()) {
        status = SendPageRange(*ch_, *ram_, at, n, buf.data(), gen, sent, &r_->pipe,
                               compress_ ? &*compress_ : nullptr);
      }
    }
    if (status.ok() && offer) {
      status = AnswerNeeds(offers_.keep(), gen, sent, buf.data());
    }
    todo.ClearRange(at, n);
    at += n;
    done += n;
    // The next round's sync never overlaps the write-back: both take from this view.
    if (overlap_sync && !next_sync_.valid() && !Streaming()) {
      const double rate = LinkRateOr(LinkRate());  // the first pass: --bandwidth, if given
      if (static_cast<double>((total - done) * kPageSize) / rate <= ExpectedSyncSeconds()) {
        StartSync();
      }
    }
    if (Clock::now() - last_report > std::chrono::milliseconds(200)) {
      Report(phase, done, total);
      last_report = Clock::now();
    }
  }
  if (status.ok() && offer) status = AnswerNeeds(/*keep=*/0, gen, sent, buf.data());
  if (status.ok()) {
    StageTimer timer(&r_->pipe.send);
    status = ch_->Flush();
  }
  const double secs = Since(t0);
  if (secs > 0.05 && status.ok()) {
    send_rate_ = static_cast<double>(ch_->bytes_sent() - bytes0) / secs;
  }
  Report(phase, done, total);
  return status;
}

Result<PageBitmap> SourceSession::Classify(uint64_t* zero_pages, bool wait_for_write_back) {
  // Every page written back before the table is read is in it; every page written back after
  // the dirty log's start is delivered later (StartDirtyLog): by the write-back thread, whose
  // pages the first pass sends as they come, or by a round's sync.
  if (wait_for_write_back) {
    StageTimer timer(&r_->pipe.sync);
    while (Streaming()) MKD_RETURN_IF_ERROR(TakeStreamed(/*wait=*/true).status());
  }
  StageTimer timer(&r_->pipe.classify);
  MKD_ASSIGN_OR_RETURN(GenerationTable table, ram_->Table());
  table_ = std::move(table);
  if (table_.pages() != summary_.pages) return Status::Corrupt("the table changed size");
  if (o_.reuse) {
    MKD_ASSIGN_OR_RETURN(PageBitmap reusable, ram_->Reusable(peer_table_blob_));
    reusable_ = std::move(reusable);
  } else {
    reusable_ = PageBitmap(summary_.pages);
  }
  if (reusable_.pages() != summary_.pages) return Status::Corrupt("reusable bitmap of wrong size");
  // The destination holds the VM (a return hop): offers do not hold the first pass back.
  if (reusable_.Any()) offers_.DoNotWaitUntilProven();
  const uint64_t pages = summary_.pages;
  fate_.assign(pages, PageFate::kZero);
  PageBitmap send(pages);
  *zero_pages = 0;
  // Pages never written: nothing to send, unless the destination's base holds something there.
  for (uint64_t p = 0; p < pages;) {
    const Generation g = table_.Get(p);
    if (g == kGenNeverWritten) {
      uint64_t q = p;
      while (q < pages && table_.Get(q) == kGenNeverWritten &&
             peer_table_.Get(q) != kGenNeverWritten)
        ++q;
      if (q > p) {
        MKD_RETURN_IF_ERROR(SendZeros(p, q - p, kGenNeverWritten));
        *zero_pages += q - p;
        p = q;
      } else {
        ++p;
      }
      continue;
    }
    if (reusable_.Test(p)) {
      fate_[p] = PageFate::kReused;
    } else {
      send.Set(p);
    }
    ++p;
  }
  return send;
}

Generation SourceSession::TableGen(uint64_t page) const {
  const Generation g = table_.Get(page);
  return g == kGenInvalid ? summary_.epoch : g;  // content read now is the VM's in epoch e
}

Status SourceSession::FirstPass() {
  RoundStat stat{0, 0, 0, 0};
  const auto t0 = Clock::now();
  const uint64_t bytes0 = ch_->bytes_sent();
  uint64_t zeros = 0;
  MKD_ASSIGN_OR_RETURN(PageBitmap send, Classify(&zeros, /*wait_for_write_back=*/false));
  stat.pages += zeros;
  const uint64_t sent0 = r_->page_transfers + r_->zero_transfers;
  MKD_RETURN_IF_ERROR(SendPages(
      send, [this](uint64_t p) { return TableGen(p); }, "first pass", /*overlap_sync=*/true,
      /*offer=*/true));
  stat.pages += r_->page_transfers + r_->zero_transfers - sent0;
  stat.bytes = ch_->bytes_sent() - bytes0;
  stat.seconds = Since(t0);
  r_->rounds.push_back(stat);
  return FaultPoint("source.first_pass");
}

bool SourceSession::Stagnant() const {
  // The last kStagnantRounds rounds each kept at least 90 % of the pages of the round before.
  const std::vector<RoundStat>& r = r_->rounds;
  if (r.size() < kStagnantRounds + 2) return false;  // the first pass is not a round
  for (size_t i = r.size() - kStagnantRounds; i < r.size(); ++i) {
    if (r[i].pages * 10 < r[i - 1].pages * 9) return false;
  }
  return true;
}

void SourceSession::NoteDirtyRate(uint64_t pages, double interval_seconds) {
  earlier_dirty_rate_ = last_dirty_rate_;
  last_dirty_rate_ = interval_seconds > 0 ? static_cast<double>(pages) / interval_seconds : 0.0;
}

double SourceSession::LinkRate() const {
  const double cap = static_cast<double>(o_.bandwidth);
  return o_.bandwidth > 0 && (send_rate_ == 0 || send_rate_ > cap) ? cap : send_rate_;
}

Status SourceSession::Rounds(uint32_t max_rounds) {
  const Epoch e = summary_.epoch;
  const StopRule rule({.budget_seconds = std::chrono::duration<double>(o_.downtime).count()});
  for (uint32_t round = 1; round <= max_rounds; ++round) {
    MKD_RETURN_IF_ERROR(FaultPoint("source.rounds"));
    if (LibvirtDue(0)) MKD_RETURN_IF_ERROR(StartLibvirt());
    if (libvirt_started_) {
      // libvirt's QEMU paused the VM before the rounds were done: the pause has begun.
      MKD_ASSIGN_OR_RETURN(bool paused, LibvirtPaused());
      if (paused) return Status::Ok();
    }
    const auto t0 = Clock::now();
    const uint64_t bytes0 = ch_->bytes_sent();
    MKD_ASSIGN_OR_RETURN(PageBitmap dirty, TimedSync());
    const uint64_t n = dirty.Count();
    Converge(n);
    const double rate = LinkRate();
    // Pages written in two rounds in a row (for round 1: by the first pass's write-back and in
    // round 1) wait for the pause, as many as the link carries in half the budget (hot_pages.h).
    if (!hot_) {
      hot_.emplace(dirty.pages());
      if (written_back_early_.pages() == dirty.pages()) hot_->Seed(written_back_early_);
    }
    const double hold_seconds = rule.options().budget_seconds / 2;
    const PageBitmap send = hot_->Round(
        dirty,
        static_cast<uint64_t>(hold_seconds * LinkRateOr(rate) / static_cast<double>(kPageSize)));
    const uint64_t held = hot_->held().Count();
    const auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
    const double interval = prev_cut_ ? seconds(*last_cut_ - *prev_cut_) : 0.0;
    NoteDirtyRate(n, interval);
    const StopForecast f = rule.Forecast({.dirty_pages = n,
                                          .interval_seconds = interval,
                                          .since_cut_seconds = seconds(Now() - *last_cut_),
                                          .sync_seconds = last_sync_seconds_,
                                          .link_bytes_per_second = rate,
                                          .send_pages = send.Count(),
                                          .held_pages = held,
                                          .earlier_pages_per_second = earlier_dirty_rate_});
    // The next round's sync overlaps this round's send, unless this round is the last.
    const bool more = !f.last && round < max_rounds;
    MKD_RETURN_IF_ERROR(SendPages(
        send, [e](uint64_t) { return e; }, "round " + std::to_string(round), more));
    r_->rounds.push_back(RoundStat{round, n, ch_->bytes_sent() - bytes0, Since(t0),
                                   policy_ ? policy_->percent() : 0, f.downtime_seconds * 1e3,
                                   f.final_pages, interval, held});
    spdlog::debug(
        "round {}: {} dirty pages, {:.3f} s at {:.1f} MB/s; after it the pause would carry {:.0f} "
        "pages, {:.0f} ms",
        round, n, f.send_seconds, rate / 1e6, f.final_pages, f.downtime_seconds * 1e3);
    if (f.last) return Status::Ok();
    // No progress: the guest dirties as much per round as the link carries. More rounds would
    // only resend the same pages; go to the switchover now (longer downtime, fewer bytes).
    // While the throttle can still rise, or rose to its maximum only lately (its effect shows
    // in the rounds after), the rounds go on: it slows the guest down further.
    if (policy_ && policy_->percent() >= o_.throttle.max_percent) ++rounds_at_max_throttle_;
    const bool can_throttle = policy_ && r_->throttle.error.empty() &&
                              rounds_at_max_throttle_ <= kStagnantRounds;
    if (round >= kStagnantRounds + 1 && Stagnant() && !can_throttle) {
      r_->converged = false;
      spdlog::warn(
          "round {}: {} dirty pages, no fewer than {} rounds ago: the guest dirties "
          "memory as fast as the link carries it; switching over now (the downtime "
          "will exceed the budget)",
          round, n, kStagnantRounds);
      return Status::Ok();
    }
  }
  r_->converged = false;
  spdlog::warn(
      "the guest dirties memory faster than the link carries it: going to the "
      "switchover after {} rounds; the downtime will exceed the budget",
      max_rounds);
  return Status::Ok();
}

Result<std::optional<qmp::MigrationInfo>> SourceSession::CheckMigration(
    const std::vector<std::string>& states, const qmp::MigrationInfo* stale, bool* fresh) {
  MKD_ASSIGN_OR_RETURN(qmp::MigrationInfo info, monitor_->QueryMigrate());
  if (libvirt_) {
    // libvirt gave up before QEMU got there (a refusing hook on the destination, a domain it
    // cannot start there): its message says why.
    if (std::optional<Status> ended = libvirt_->Poll(); ended.has_value()) {
      if (!ended->ok()) return *ended;
      return Status::FailedPrecondition("libvirt's migration ended while QEMU's was " +
                                        info.status);
    }
  }
  if (stale != nullptr && !*fresh) {
    // Still the answer from before this migration (a VM that arrived here by migration says
    // "completed" for its incoming one): not ours yet.
    if (info.status == stale->status && info.total_time_ms == stale->total_time_ms) {
      return std::optional<qmp::MigrationInfo>();
    }
    *fresh = true;
  }
  for (const std::string& s : states) {
    if (info.status == s) return std::optional<qmp::MigrationInfo>(std::move(info));
  }
  if (info.status == "failed" || info.status == "cancelled") {
    return Status::FailedPrecondition("QEMU's migration " + info.status +
                                      (info.error_desc ? ": " + *info.error_desc : ""));
  }
  return std::optional<qmp::MigrationInfo>();
}

Result<qmp::MigrationInfo> SourceSession::WaitMigration(const std::vector<std::string>& states,
                                                        const qmp::MigrationInfo* stale) {
  const auto deadline = Clock::now() + o_.timeout;
  bool fresh = false;
  while (Clock::now() < deadline) {
    MKD_ASSIGN_OR_RETURN(std::optional<qmp::MigrationInfo> info,
                         CheckMigration(states, stale, &fresh));
    if (info.has_value()) return std::move(*info);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return Status::Io("QEMU's migration did not reach " + states.front() + " in time");
}

bool SourceSession::LibvirtDue(double seconds_left) const {
  return libvirt_ && !libvirt_started_ && !o_.postcopy && seconds_left <= kLibvirtLeadSeconds;
}

Status SourceSession::StartLibvirt() {
  MKD_RETURN_IF_ERROR(AwaitReady());  // a libvirt domain's destination sends it with its table
  // libvirt makes the destination QEMU listen on the path the source QEMU migrates to, on its
  // host: the VM's run directory, the same on both hosts (docs/libvirt.md). QEMU's device state
  // waits in the tunnel (held) until the commit: libvirt answers QEMU's pre-switchover itself.
  MKD_ASSIGN_OR_RETURN(std::unique_ptr<QemuStream> tunnel,
                       vm_->OpenStream(qemuconfig::PathsFor(def_).run_dir + "/migrate.sock",
                                       StreamHello{def_.uuid, o_.host_id}, /*hold=*/true));
  tunnel_ = std::move(tunnel);
  MKD_ASSIGN_OR_RETURN(qmp::MigrationInfo before, monitor_->QueryMigrate());
  libvirt_before_ = std::move(before);
  libvirt_started_ = true;  // from here on, a failure cancels libvirt's job
  spdlog::debug("starting virsh migrate (libvirt starts the destination's QEMU meanwhile)");
  return libvirt_->Start("unix://" + tunnel_->path());
}

Result<bool> SourceSession::LibvirtPaused() {
  // Every state of QEMU's migration set after it stopped the vCPUs.
  static const std::vector<std::string> kPaused = {"pre-switchover", "device", "completed"};
  MKD_ASSIGN_OR_RETURN(std::optional<qmp::MigrationInfo> info,
                       CheckMigration(kPaused, &*libvirt_before_, &libvirt_fresh_));
  return info.has_value();
}

Status SourceSession::RoundsUntilLibvirtPauses() {
  const auto deadline = Clock::now() + o_.timeout + std::chrono::seconds(30);
  const Epoch e = summary_.epoch;
  const auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  while (true) {
    MKD_ASSIGN_OR_RETURN(bool paused, LibvirtPaused());
    if (paused) return Status::Ok();
    if (Clock::now() > deadline) {
      return Status::Io("QEMU's migration, started by libvirt, did not pause the VM in time");
    }
    // libvirt starts the destination's QEMU first (about a second) while the guest writes on. A
    // round goes only once the pause, should it come now, would no longer fit the budget: the
    // pause then carries at most about that, and no page is resent needlessly.
    if (!r_->rounds.empty() && last_cut_) {
      const StopRule rule({.budget_seconds = std::chrono::duration<double>(o_.downtime).count()});
      const double pause =
          rule.PauseIfNow({.dirty_pages = r_->rounds.back().pages,
                           .interval_seconds = prev_cut_ ? seconds(*last_cut_ - *prev_cut_) : 0.0,
                           .since_cut_seconds = seconds(Now() - *last_cut_),
                           .sync_seconds = last_sync_seconds_,
                           .link_bytes_per_second = LinkRate()});
      if (pause <= rule.options().budget_seconds) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
    }
    const auto t0 = Clock::now();
    const uint64_t bytes0 = ch_->bytes_sent();
    MKD_ASSIGN_OR_RETURN(PageBitmap dirty, TimedSync());
    if (dirty.Count() == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    MKD_RETURN_IF_ERROR(SendPages(
        dirty, [e](uint64_t) { return e; }, "round while libvirt starts the destination"));
    r_->rounds.push_back(RoundStat{static_cast<uint32_t>(r_->rounds.size()), dirty.Count(),
                                   ch_->bytes_sent() - bytes0, Since(t0),
                                   policy_ ? policy_->percent() : 0, 0});
  }
}

Status SourceSession::StartSwitchover() {
  if (o_.verify && !o_.postcopy) {
    // While the VM still runs (and the destination's QEMU may still start): the pause then reads
    // only the pages written since. (Post-copy verifies after the pause, when our memory is
    // frozen and the VM runs at the destination: no need to hurry.)
    StageTimer timer(&r_->pipe.verify);
    MKD_RETURN_IF_ERROR(RefreshDigests());
  }
  if (libvirt_) {
    // Unless the rounds started it already (LibvirtDue): post-copy, or nothing was sent.
    if (!libvirt_started_) MKD_RETURN_IF_ERROR(StartLibvirt());
    StageTimer timer(&r_->pipe.switchover);
    Report("switchover", 0, 0);
    phase_ = SourcePhase::kSwitchingOver;
    // QEMU has paused the VM once its migration is past "active".
    MKD_RETURN_IF_ERROR(RoundsUntilLibvirtPauses());
  } else {
    MKD_RETURN_IF_ERROR(AwaitReady());
    StageTimer timer(&r_->pipe.switchover);
    std::filesystem::create_directories(o_.tunnel_dir);
    const std::string path = o_.tunnel_dir + "/mkd-migrate-" + def_.uuid.ToString() + ".sock";
    MKD_ASSIGN_OR_RETURN(std::unique_ptr<QemuStream> tunnel,
                         vm_->OpenStream(path, StreamHello{def_.uuid, o_.host_id},
                                         /*hold=*/false));
    tunnel_ = std::move(tunnel);
    Report("switchover", 0, 0);
    MKD_RETURN_IF_ERROR(monitor_->Migrate("unix:" + tunnel_->path()));
    phase_ = SourcePhase::kSwitchingOver;
    MKD_RETURN_IF_ERROR(WaitMigration({"pre-switchover"}).status());
  }
  paused_at_ = Clock::now();  // the VM is stopped from here until migrate-continue
  LiftThrottle();             // paused: no vCPU runs; should it resume here, at full speed
  return FaultPoint("source.pre_switchover");
}

Status SourceSession::Switchover() {
  MKD_RETURN_IF_ERROR(StartSwitchover());
  const auto t0 = Clock::now();
  const uint64_t bytes0 = ch_->bytes_sent();
  MKD_ASSIGN_OR_RETURN(PageBitmap last, SyncAfterPause());
  const Epoch e = summary_.epoch;
  MKD_RETURN_IF_ERROR(SendPages(
      last, [e](uint64_t) { return e; }, "last pages"));
  r_->rounds.push_back(RoundStat{static_cast<uint32_t>(r_->rounds.size()), last.Count(),
                                 ch_->bytes_sent() - bytes0, Since(t0)});
  if (o_.verify) MKD_RETURN_IF_ERROR(Verify(/*after_postcopy=*/false));
  return Status::Ok();
}

Status SourceSession::Verify(bool after_postcopy) {
  StageTimer timer(&r_->pipe.verify);
  Report("verify", 0, 0);
  MKD_RETURN_IF_ERROR(ch_->Send(FrameType::kVerify, {}));
  // Our digests while the destination computes its own. After a post-copy our memory is frozen
  // since the pause while the VM runs on there: the pages it wrote since the commit are skipped.
  MKD_RETURN_IF_ERROR(RefreshDigests());
  MKD_RETURN_IF_ERROR(CompareDigests(digests_, /*skip_written_there=*/after_postcopy));
  r_->verified = true;
  return Status::Ok();
}

void SourceSession::RetireSource() {
  // The VM runs at the destination: the source QEMU goes; its RAM file becomes the VM's stored
  // incarnation here when QEMU closes it (timed apart: it is cleanup).
  const auto retire = Clock::now();
  monitor_->Close();  // QEMU serves one QMP client: the stop asks it to quit over its own
  Status stop = vm_->Stop();
  if (!stop.ok()) spdlog::warn("stopping the source QEMU: {}", stop.ToString());
  r_->retire_seconds = Since(retire);
}

void SourceSession::StartDigests() {
  if (!o_.verify || o_.postcopy || digest_job_.valid() || !digests_.empty()) return;
  // memfs digests its page store: what the kernel had written back when it read each page. Every
  // page written back from the dirty log's start on (before this) is delivered by a later take
  // or sync, which marks it stale; RefreshDigests reads those through the mount. So the digests
  // end up those of the guest's memory without reading every page through FUSE here (a VM that
  // arrived recently has most of its pages only in the page store).
  ResetDigests(/*all_stale=*/false);
  digest_job_ = std::async(std::launch::async, [this, pages = summary_.pages]() -> Status {
    MKD_ASSIGN_OR_RETURN(std::string blob, ram_->DigestsBlob());
    Result<std::vector<uint64_t>> d = DecodeDigests(blob, nullptr, pages);
    if (!d.ok()) return d.status().WithContext("the page store's digests");
    if (d->size() != pages) return Status::Corrupt("the page store's digests: wrong page count");
    digests_ = std::move(*d);
    return Status::Ok();
  });
}

void SourceSession::ResetDigests(bool all_stale) {
  digests_.assign(summary_.pages, 0);
  stale_ = PageBitmap(summary_.pages);
  if (all_stale) stale_.SetRange(0, summary_.pages);
}

SourceSession::~SourceSession() {
  stream_cancel_ = true;
  if (digest_job_.valid()) digest_job_.wait();
  if (stream_job_.valid()) stream_job_.wait();
}

Status SourceSession::RefreshDigests() {
  if (digest_job_.valid()) {
    const Status job = digest_job_.get();
    if (!job.ok()) stale_.SetRange(0, summary_.pages);  // read again below, errors reported there
  }
  if (digests_.empty()) ResetDigests(/*all_stale=*/true);  // no digest thread ran
  std::string buf(kMaxPagesPerFrame * kPageSize, '\0');
  Status status;
  stale_.ForEachRun([&](uint64_t first, uint64_t count) {
    if (status.ok()) status = DigestRange(*ram_, first, count, &buf, &digests_);
  });
  if (status.ok()) stale_.ClearAll();
  return status;
}

Status SourceSession::CompareDigests(const std::vector<uint64_t>& ours, bool skip_written_there) {
  ch_->SetTimeout(o_.timeout + std::chrono::seconds(10));  // it reads its whole page store
  Result<Frame> f = ch_->Expect(FrameType::kDigests);
  Result<Frame> d =
      skip_written_there && f.ok() ? ch_->Expect(FrameType::kDirty) : Result<Frame>(Frame{});
  ch_->SetTimeout(o_.timeout);
  if (!f.ok()) return f.status();
  if (!d.ok()) return d.status();
  MKD_ASSIGN_OR_RETURN(BlobFrame blob, ParseBlob(f->payload, 1));
  // The peer's header names the page count; never allocate for more pages than ours (a small
  // sparse blob may claim 2^28 pages).
  const uint64_t pages = ours.size();
  Result<std::vector<uint64_t>> theirs = DecodeDigests(blob.blob, nullptr, pages);
  if (!theirs.ok()) return theirs.status().WithContext("destination digests");
  if (theirs->size() != pages) return Status::Corrupt("destination digests: wrong page count");
  std::optional<PageBitmap> skip;
  if (skip_written_there) {
    MKD_ASSIGN_OR_RETURN(BlobFrame dirty_blob, ParseBlob(d->payload, 1));
    Result<DecodedBitmap> dirty = DecodeBitmap(dirty_blob.blob);
    if (!dirty.ok()) return dirty.status().WithContext("destination's written pages");
    if (dirty->bitmap.pages() != pages) return Status::Corrupt("written pages: wrong page count");
    skip = std::move(dirty->bitmap);
    r_->verify_skipped = skip->Count();
  }
  uint64_t mismatches = 0, first_bad = 0;
  for (uint64_t p = 0; p < pages; ++p) {
    if (skip && skip->Test(p)) continue;
    if (ours[p] != (*theirs)[p]) {
      if (mismatches++ == 0) first_bad = p;
    }
  }
  if (mismatches > 0) {
    return Status::Corrupt("--verify: " + std::to_string(mismatches) +
                           " pages differ between source and destination (first: page " +
                           std::to_string(first_bad) + ")" + (skip ? "" : "; the VM stays here"));
  }
  return Status::Ok();
}

Status SourceSession::Commit() {
  StageTimer timer(&r_->pipe.commit);
  // From here on, the source must never write pages in epoch e again: the destination holds
  // content tagged e. Should the VM resume here (the switchover fails after the commit), it
  // continues in a fresh epoch e + 2 (e + 1 is the destination's).
  MKD_RETURN_IF_ERROR(ram_->Advance(summary_.epoch + 2));
  MKD_RETURN_IF_ERROR(FaultPoint("source.commit"));
  MKD_RETURN_IF_ERROR(ch_->Send(FrameType::kCommit, {}));
  MKD_ASSIGN_OR_RETURN(Frame f, ch_->Expect(FrameType::kResult));
  MKD_ASSIGN_OR_RETURN(ResultMsg res, ParseResult(f.payload));
  if (!res.ok) return Status::FailedPrecondition(o_.to_host + ": commit: " + res.message);
  r_->pipe.destination = res.receive;
  phase_ = SourcePhase::kCommitted;
  return FaultPoint("source.after_commit");
}

Result<Frame> SourceSession::AskRunning() {
  MKD_RETURN_IF_ERROR(ch_->Send(FrameType::kWaitRunning, {}));
  ch_->SetTimeout(o_.timeout + std::chrono::seconds(30));
  Result<Frame> f = ch_->Expect(FrameType::kResult);
  ch_->SetTimeout(o_.timeout);
  if (f.ok()) {
    r_->downtime_until_running_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - paused_at_).count();
  }
  return f;
}

Status SourceSession::Finish() {
  std::optional<StageTimer> timer(&r_->pipe.finish);
  Status switched;  // QEMU's switchover (libvirt's, for its domains) as this host saw it
  Status tunnel;
  Result<Frame> f = Status::FailedPrecondition("not asked");
  std::optional<Clock::time_point> running_at;
  if (libvirt_) {
    tunnel_->Release();
    r_->downtime_ours_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - paused_at_).count();
    // The destination's word first: libvirt resumes the VM there, then stops the source QEMU
    // (the end of virsh, waited for below, is this host's cleanup).
    f = AskRunning();
    running_at = Clock::now();
    // QEMU's own downtime, while libvirt has not stopped the source QEMU yet.
    if (Result<qmp::MigrationInfo> info = monitor_->QueryMigrate();
        info.ok() && info->downtime_ms) {
      r_->downtime_qemu_ms = static_cast<double>(*info->downtime_ms);
    }
    const auto retire = Clock::now();
    switched = libvirt_->Wait(o_.timeout + std::chrono::seconds(30));
    tunnel = tunnel_->Join();
    r_->retire_seconds = Since(retire);
  } else {
    MKD_RETURN_IF_ERROR(monitor_->MigrateContinue());
    r_->downtime_ours_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - paused_at_).count();
    Result<qmp::MigrationInfo> info = WaitMigration({"completed"});
    if (info.ok() && info->downtime_ms) {
      r_->downtime_qemu_ms = static_cast<double>(*info->downtime_ms);
    }
    switched = info.status();
    tunnel = tunnel_->Join();
    // Whatever QEMU says here, ask the destination: only it knows whether its QEMU took over.
    f = AskRunning();
  }
  if (!f.ok()) {
    if (f.status().code() == ErrorCode::kFailedPrecondition) phase_ = SourcePhase::kDestStopped;
    return f.status();
  }
  MKD_ASSIGN_OR_RETURN(ResultMsg res, ParseResult(f->payload));
  if (res.ok && (!switched.ok() || !tunnel.ok())) {
    return Status::Corrupt(
        "the destination says the VM runs although the switchover failed here (" +
        (switched.ok() ? tunnel : switched).ToString() + "): check both hosts");
  }
  if (!res.ok) {
    phase_ = SourcePhase::kDestStopped;  // a definite answer: resuming here is safe
    return Status::FailedPrecondition(o_.to_host + ": " + res.message);
  }
  // The VM runs there: the migration is done.
  timer.reset();
  r_->total_seconds =
      std::chrono::duration<double>(running_at.value_or(Clock::now()) - start_).count();
  if (libvirt_) {
    // libvirt stopped the source QEMU before virsh ended; closing our monitor lets it go.
    const auto retire = Clock::now();
    monitor_->Close();
    if (Status stop = vm_->Stop(); !stop.ok()) spdlog::warn("{}", stop.ToString());
    r_->retire_seconds += Since(retire);
    return Status::Ok();
  }
  RetireSource();
  return Status::Ok();
}

Status SourceSession::Run() {
  if (o_.auto_converge) policy_.emplace(o_.throttle);
  MKD_RETURN_IF_ERROR(Prepare());
  MKD_RETURN_IF_ERROR(Handshake());
  if (o_.postcopy) {
    r_->mode = "postcopy";
    if (o_.precopy_rounds > 0) {
      MKD_RETURN_IF_ERROR(FirstPass());
      MKD_RETURN_IF_ERROR(Rounds(o_.precopy_rounds));
    } else {
      MKD_RETURN_IF_ERROR(PreSync());
    }
    MKD_RETURN_IF_ERROR(StartSwitchover());
    MKD_RETURN_IF_ERROR(PostcopyMissing());
    MKD_RETURN_IF_ERROR(Commit());
    return FinishPostcopy();
  }
  MKD_RETURN_IF_ERROR(FirstPass());
  MKD_RETURN_IF_ERROR(Rounds(o_.max_rounds));
  MKD_RETURN_IF_ERROR(Switchover());
  MKD_RETURN_IF_ERROR(Commit());
  MKD_RETURN_IF_ERROR(Finish());
  return Status::Ok();
}

Status RunSourceWith(const SourceOptions& options, qemuconfig::VmDefinition def,
                     Result<SourcePorts> ports, MigrationReport* report,
                     const std::function<void(const Progress&)>& progress) {
  const auto start = Clock::now();
  SourceSession s(options, std::move(def), ports.ok() ? std::move(*ports) : SourcePorts{}, report,
                  progress);
  Status status = ports.ok() ? s.Run() : ports.status();
  if (!status.ok()) s.Fail(status);
  if (!status.ok() || report->total_seconds == 0) report->total_seconds = Since(start);
  s.Account();
  return status;
}

}  // namespace internal

Status RunSource(const SourceOptions& options, MigrationReport* report,
                 const std::function<void(const Progress&)>& progress) {
  qemuconfig::VmDefinition def;
  Result<SourcePorts> ports = OpenSourcePorts(options, &def);
  return internal::RunSourceWith(options, std::move(def), std::move(ports), report, progress);
}

}  // namespace mkd::migrate
