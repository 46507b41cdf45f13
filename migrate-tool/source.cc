// The source side of a migration (see source.h and docs/migrate.md).
#include "migrate-tool/source.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

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
#include "migrate-tool/net.h"
#include "migrate-tool/page_sender.h"
#include "migrate-tool/ram_file.h"
#include "migrate-tool/source_session.h"
#include "migrate-tool/stream_tunnel.h"
#include "qemu-config/command_line.h"
#include "qemu-config/qmp/client.h"
#include "qemu-config/vm_control.h"
#include "qemu-config/vm_definition.h"

namespace mkd::migrate {
namespace internal {

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
  Result<qemuconfig::VmDefinition> def = qemuconfig::LoadVmDefinition(o_.definition);
  if (!def.ok()) return def.status();
  def_ = std::move(*def);
  if (def_.backing != qemuconfig::MemoryBacking::kMemfs) {
    return Status::FailedPrecondition("VM " + def_.name +
                                      ": its RAM is not on mkd-memfs (memory_backing), so "
                                      "mkd-migrate cannot move it; use QEMU's own migration");
  }
  const qemuconfig::VmPaths paths = qemuconfig::PathsFor(def_);
  if (!qemuconfig::RunningPid(def_)) {
    return Status::FailedPrecondition("VM " + def_.name + " is not running on this host");
  }
  Result<RamFile> ram = RamFile::Open(paths.memory_file);
  if (!ram.ok()) return ram.status();
  ram_ = std::move(*ram);
  Result<RamFileSummary> s = ram_->Summary();
  if (!s.ok()) return s.status();
  summary_ = *s;
  if (summary_.state != "live") {
    return Status::FailedPrecondition(paths.memory_file + " is " + summary_.state +
                                      ", not live: is the VM running here?");
  }
  MKD_RETURN_IF_ERROR(ram_->MapForReading(summary_.pages));
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
  Result<qmp::QmpClient> q = qmp::QmpClient::Connect(paths.qmp_socket, o_.timeout);
  if (!q.ok()) return q.status().WithContext("QMP of the source QEMU");
  qmp_ = std::move(*q);
  Result<qmp::VmStatus> st = qmp_->QueryStatus();
  if (!st.ok()) return st.status();
  if (st->status != "running") {
    return Status::FailedPrecondition(
        "the source QEMU is " + st->status +
        ", not running (after an interrupted migration: mkd-migrate recover " + def_.name + ")");
  }
  // RAM is ours to move: QEMU skips shared RAM blocks and waits for us before the switchover.
  Result<nlohmann::json> caps =
      qmp_->Execute("migrate-set-capabilities",
                    {{"capabilities",
                      {{{"capability", "x-ignore-shared"}, {"state", true}},
                       {{"capability", "pause-before-switchover"}, {"state", true}}}}});
  if (!caps.ok()) return caps.status();
  Result<nlohmann::json> params =
      qmp_->Execute("migrate-set-parameters", {{"max-bandwidth", uint64_t{1} << 40}});
  if (!params.ok()) return params.status();
  Result<peer::TlsContext> tls = peer::TlsContext::Create(o_.tls, /*server=*/false);
  if (!tls.ok()) return tls.status();
  tls_ = std::move(*tls);
  return Status::Ok();
}

Status SourceSession::Handshake() {
  StageTimer timer(&r_->pipe.handshake);
  Report("connecting", 0, 0);
  const std::string address = o_.address.empty() ? o_.to_host : o_.address;
  Result<std::unique_ptr<Channel>> ch = DialPeer(*tls_, address, o_.to_host, o_.timeout);
  if (!ch.ok()) return ch.status();
  ch_ = std::move(*ch);
  ch_->SetBandwidth(o_.bandwidth);
  Hello hello;
  hello.vm = def_.uuid;
  hello.epoch = summary_.epoch;
  hello.lineage = summary_.lineage;
  hello.blocks = {BlockInfo{"ram", summary_.pages}};
  hello.source_host = o_.host_id;
  MKD_RETURN_IF_ERROR(ch_->Send(FrameType::kHello, EncodeHello(hello)));
  // The first sync (the one the table is read after) runs while the destination starts its
  // QEMU: it does not depend on the destination.
  StartSync();
  // The destination starts its QEMU and answers with its table (starting QEMU takes a while).
  ch_->SetTimeout(o_.timeout + std::chrono::seconds(30));
  Result<Frame> table = ch_->Expect(FrameType::kTable);
  if (!table.ok()) return table.status();
  Result<BlobFrame> blob = ParseBlob(table->payload, 1);
  if (!blob.ok()) return blob.status();
  Result<DecodedTable> decoded = DecodeTable(blob->blob);
  if (!decoded.ok()) return decoded.status().WithContext("destination table");
  if (decoded->header.vm != def_.uuid || decoded->table.pages() != summary_.pages) {
    return Status::InvalidArgument("the destination's table is of another VM or size");
  }
  peer_table_ = std::move(decoded->table);
  peer_table_blob_ = std::string(blob->blob);
  Result<Frame> ready = ch_->Expect(FrameType::kReady);
  if (!ready.ok()) return ready.status();
  ch_->SetTimeout(o_.timeout);
  r_->setup_seconds = Since(start_);
  return FaultPoint("source.handshake");
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
                                const std::string& phase, bool overlap_sync) {
  std::string buf(kMaxPagesPerFrame * kPageSize, '\0');
  const uint64_t total = pages.Count();
  uint64_t done = 0;
  Status status;
  auto last_report = Clock::now();
  const auto t0 = Clock::now();
  const uint64_t bytes0 = ch_->bytes_sent();
  auto sent = [this](const SentRun& run) {
    if (r_->pipe.first_page == 0) r_->pipe.first_page = Since(start_);
    Sent(run);
  };
  pages.ForEachRun([&](uint64_t first, uint64_t count) {
    for (uint64_t at = first; status.ok() && at < first + count;) {
      const uint64_t n = std::min<uint64_t>(kMaxPagesPerFrame, first + count - at);
      status = SendPageRange(*ch_, *ram_, at, n, buf.data(), gen_of, sent, &r_->pipe);
      at += n;
      done += n;
      if (overlap_sync && !next_sync_.valid()) {
        const double rate = send_rate_ > 0 ? send_rate_ : 100e6;
        if (static_cast<double>((total - done) * kPageSize) / rate <= last_sync_seconds_) {
          StartSync();
        }
      }
      if (Clock::now() - last_report > std::chrono::milliseconds(200)) {
        Report(phase, done, total);
        last_report = Clock::now();
      }
    }
  });
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

Result<PageBitmap> SourceSession::SyncAndClassify(uint64_t* zero_pages) {
  // Sync first: every page written before it is in the table read next, every page written
  // after it will be in a later sync.
  Result<PageBitmap> before = TimedSync();
  if (!before.ok()) return before.status();
  StageTimer timer(&r_->pipe.classify);
  Result<GenerationTable> table = ram_->Table();
  if (!table.ok()) return table.status();
  table_ = std::move(*table);
  if (table_.pages() != summary_.pages) return Status::Corrupt("the table changed size");
  if (o_.reuse) {
    Result<PageBitmap> reusable = ram_->Reusable(peer_table_blob_);
    if (!reusable.ok()) return reusable.status();
    reusable_ = std::move(*reusable);
  } else {
    reusable_ = PageBitmap(summary_.pages);
  }
  if (reusable_.pages() != summary_.pages) return Status::Corrupt("reusable bitmap of wrong size");
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
  Result<PageBitmap> classified = SyncAndClassify(&zeros);
  if (!classified.ok()) return classified.status();
  const PageBitmap& send = *classified;
  stat.pages += zeros;
  MKD_RETURN_IF_ERROR(SendPages(
      send, [this](uint64_t p) { return TableGen(p); }, "first pass", /*overlap_sync=*/true));
  stat.pages += send.Count();
  stat.bytes = ch_->bytes_sent() - bytes0;
  stat.seconds = Since(t0);
  r_->rounds.push_back(stat);
  first_pass_done_ = true;
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

Status SourceSession::Rounds(uint32_t max_rounds) {
  const Epoch e = summary_.epoch;
  const double budget = std::chrono::duration<double>(o_.downtime).count();
  for (uint32_t round = 1; round <= max_rounds; ++round) {
    MKD_RETURN_IF_ERROR(FaultPoint("source.rounds"));
    const auto t0 = Clock::now();
    const uint64_t bytes0 = ch_->bytes_sent();
    Result<PageBitmap> dirty = TimedSync();
    if (!dirty.ok()) return dirty.status();
    const uint64_t n = dirty->Count();
    Converge(n);
    double rate = send_rate_;
    if (o_.bandwidth > 0 && (rate == 0 || rate > static_cast<double>(o_.bandwidth))) {
      rate = static_cast<double>(o_.bandwidth);
    }
    if (rate <= 0) rate = 100e6;
    const double need = static_cast<double>(n * kPageSize) / rate;
    // The next round's sync overlaps this round's send, unless this round is the last.
    const bool more = need > budget && round < max_rounds;
    MKD_RETURN_IF_ERROR(SendPages(
        *dirty, [e](uint64_t) { return e; }, "round " + std::to_string(round), more));
    r_->rounds.push_back(RoundStat{round, n, ch_->bytes_sent() - bytes0, Since(t0),
                                   policy_ ? policy_->percent() : 0});
    spdlog::debug("round {}: {} dirty pages, {:.3f} s at {:.1f} MB/s", round, n, need, rate / 1e6);
    if (need <= budget) return Status::Ok();
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

Result<qmp::MigrationInfo> SourceSession::WaitMigration(const std::vector<std::string>& states) {
  const auto deadline = Clock::now() + o_.timeout;
  while (Clock::now() < deadline) {
    Result<qmp::MigrationInfo> info = qmp_->QueryMigrate();
    if (!info.ok()) return info.status();
    for (const std::string& s : states) {
      if (info->status == s) return info;
    }
    if (info->status == "failed" || info->status == "cancelled") {
      return Status::FailedPrecondition("QEMU's migration " + info->status +
                                        (info->error_desc ? ": " + *info->error_desc : ""));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return Status::Io("QEMU's migration did not reach " + states.front() + " in time");
}

Status SourceSession::StartSwitchover() {
  StageTimer timer(&r_->pipe.switchover);
  std::filesystem::create_directories(o_.tunnel_dir);
  Result<std::unique_ptr<SourceTunnel>> tunnel =
      SourceTunnel::Listen(o_.tunnel_dir + "/mkd-migrate-" + def_.uuid.ToString() + ".sock");
  if (!tunnel.ok()) return tunnel.status();
  tunnel_ = std::move(*tunnel);
  const std::string address = o_.address.empty() ? o_.to_host : o_.address;
  tunnel_->Start([this, address]() { return DialPeer(*tls_, address, o_.to_host, o_.timeout); },
                 StreamHello{def_.uuid, o_.host_id});
  Report("switchover", 0, 0);
  Result<nlohmann::json> m = qmp_->Execute("migrate", {{"uri", "unix:" + tunnel_->path()}});
  if (!m.ok()) return m.status();
  migrate_started_ = true;
  Result<qmp::MigrationInfo> info = WaitMigration({"pre-switchover"});
  if (!info.ok()) return info.status();
  paused_at_ = Clock::now();  // the VM is stopped from here until migrate-continue
  LiftThrottle();             // paused: no vCPU runs; should it resume here, at full speed
  return FaultPoint("source.pre_switchover");
}

Status SourceSession::Switchover() {
  MKD_RETURN_IF_ERROR(StartSwitchover());
  const auto t0 = Clock::now();
  const uint64_t bytes0 = ch_->bytes_sent();
  Result<PageBitmap> last = SyncAfterPause();
  if (!last.ok()) return last.status();
  const Epoch e = summary_.epoch;
  MKD_RETURN_IF_ERROR(SendPages(
      *last, [e](uint64_t) { return e; }, "last pages"));
  r_->rounds.push_back(RoundStat{static_cast<uint32_t>(r_->rounds.size()), last->Count(),
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
  Result<std::vector<uint64_t>> ours = OwnDigests();
  if (!ours.ok()) return ours.status();
  MKD_RETURN_IF_ERROR(CompareDigests(*ours, /*skip_written_there=*/after_postcopy));
  r_->verified = true;
  return Status::Ok();
}

void SourceSession::RetireSource() {
  // The VM runs at the destination: the source QEMU goes; its RAM file becomes the VM's stored
  // incarnation here when QEMU closes it (timed apart: it is cleanup).
  const auto retire = Clock::now();
  qmp_->Close();
  Status stop = qemuconfig::StopVm(def_, std::chrono::seconds(10));
  if (!stop.ok()) spdlog::warn("stopping the source QEMU: {}", stop.ToString());
  r_->retire_seconds = Since(retire);
}

Result<std::vector<uint64_t>> SourceSession::OwnDigests() {
  // The guest's memory read through the mount (the page cache, i.e. what the guest sees), not
  // the page store.
  const uint64_t pages = summary_.pages;
  std::vector<uint64_t> ours(pages);
  std::string buf(kMaxPagesPerFrame * kPageSize, '\0');
  for (uint64_t at = 0; at < pages;) {
    const uint64_t n = std::min<uint64_t>(kMaxPagesPerFrame, pages - at);
    MKD_RETURN_IF_ERROR(ram_->ReadPages(at, n, buf.data()));
    for (uint64_t i = 0; i < n; ++i) ours[at + i] = PageDigest(buf.data() + i * kPageSize);
    at += n;
  }
  return ours;
}

Status SourceSession::CompareDigests(const std::vector<uint64_t>& ours, bool skip_written_there) {
  ch_->SetTimeout(o_.timeout + std::chrono::seconds(10));  // it reads its whole page store
  Result<Frame> f = ch_->Expect(FrameType::kDigests);
  Result<Frame> d =
      skip_written_there && f.ok() ? ch_->Expect(FrameType::kDirty) : Result<Frame>(Frame{});
  ch_->SetTimeout(o_.timeout);
  if (!f.ok()) return f.status();
  if (!d.ok()) return d.status();
  Result<BlobFrame> blob = ParseBlob(f->payload, 1);
  if (!blob.ok()) return blob.status();
  // The peer's header names the page count; never allocate for more pages than ours (a small
  // sparse blob may claim 2^28 pages).
  const uint64_t pages = ours.size();
  Result<std::vector<uint64_t>> theirs = DecodeDigests(blob->blob, nullptr, pages);
  if (!theirs.ok()) return theirs.status().WithContext("destination digests");
  if (theirs->size() != pages) return Status::Corrupt("destination digests: wrong page count");
  std::optional<PageBitmap> skip;
  if (skip_written_there) {
    Result<BlobFrame> dirty_blob = ParseBlob(d->payload, 1);
    if (!dirty_blob.ok()) return dirty_blob.status();
    Result<DecodedBitmap> dirty = DecodeBitmap(dirty_blob->blob);
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
  const qemuconfig::VmPaths paths = qemuconfig::PathsFor(def_);
  MKD_RETURN_IF_ERROR(SetVmDirXattr(paths.memory_dir, memfs_protocol::kAdvance,
                                    memfs_protocol::FormatAdvance(summary_.epoch + 2)));
  MKD_RETURN_IF_ERROR(FaultPoint("source.commit"));
  MKD_RETURN_IF_ERROR(ch_->Send(FrameType::kCommit, {}));
  Result<Frame> f = ch_->Expect(FrameType::kResult);
  if (!f.ok()) return f.status();
  Result<ResultMsg> res = ParseResult(f->payload);
  if (!res.ok()) return res.status();
  if (!res->ok) return Status::FailedPrecondition(o_.to_host + ": commit: " + res->message);
  r_->pipe.destination = res->receive;
  committed_ = true;
  return FaultPoint("source.after_commit");
}

Status SourceSession::Finish() {
  std::optional<StageTimer> timer(&r_->pipe.finish);
  Result<nlohmann::json> c = qmp_->Execute("migrate-continue", {{"state", "pre-switchover"}});
  if (!c.ok()) return c.status();
  r_->downtime_ours_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - paused_at_).count();
  Result<qmp::MigrationInfo> info = WaitMigration({"completed"});
  if (info.ok() && info->downtime_ms) {
    r_->downtime_qemu_ms = static_cast<double>(*info->downtime_ms);
  }
  const Status tunnel = tunnel_->Join();
  // Whatever QEMU says here, ask the destination: only it knows whether its QEMU took over.
  MKD_RETURN_IF_ERROR(ch_->Send(FrameType::kWaitRunning, {}));
  ch_->SetTimeout(o_.timeout + std::chrono::seconds(30));
  Result<Frame> f = ch_->Expect(FrameType::kResult);
  if (!f.ok()) {
    if (f.status().code() == ErrorCode::kFailedPrecondition) dest_stopped_ = true;
    return f.status();
  }
  Result<ResultMsg> res = ParseResult(f->payload);
  if (!res.ok()) return res.status();
  if (res->ok && (!info.ok() || !tunnel.ok())) {
    return Status::Corrupt(
        "the destination says the VM runs although the switchover failed here (" +
        (info.ok() ? tunnel : info.status()).ToString() + "): check both hosts");
  }
  if (!res->ok) {
    dest_stopped_ = true;  // a definite answer: its QEMU is stopped, resuming here is safe
    return Status::FailedPrecondition(o_.to_host + ": " + res->message);
  }
  // The VM runs there: the migration is done.
  timer.reset();
  r_->total_seconds = Since(start_);
  RetireSource();
  return Status::Ok();
}

Status SourceSession::Run() {
  r_->from_host = o_.host_id;
  r_->to_host = o_.to_host;
  r_->reuse = o_.reuse;
  r_->throttle.enabled = o_.auto_converge;
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

void SourceSession::Fail(const Status& cause) {
  LiftThrottle();  // whatever happens next, the guest is not left slowed down
  if (tunnel_ && !committed_) tunnel_->Cancel();
  if (!committed_) {
    // Before the commit point: the destination drops what it received, the VM stays here.
    if (ch_) (void)ch_->Send(FrameType::kAbort, EncodeAbort(cause.ToString()));
    if (qmp_ && qmp_->connected() && migrate_started_) {
      (void)qmp_->Execute("migrate_cancel");
      (void)WaitMigration({"cancelled", "failed", "completed"});
    }
    if (qmp_ && qmp_->connected()) {
      Result<qmp::VmStatus> st = qmp_->QueryStatus();
      if (st.ok() && !st->running) (void)qmp_->Execute("cont");
      // Leave QEMU as we found it: a later stock `migrate` must neither skip RAM nor pause.
      (void)qmp_->Execute("migrate-set-capabilities",
                          {{"capabilities",
                            {{{"capability", "x-ignore-shared"}, {"state", false}},
                             {{"capability", "pause-before-switchover"}, {"state", false}}}}});
    }
    r_->outcome = "failed before the commit point; the VM runs on " + o_.host_id +
                  " with its memory unchanged: " + cause.ToString();
    return;
  }
  if (dest_running_) {
    // Post-copy after the VM ran at the destination: its memory there is newer than ours for
    // every page it wrote, and some pages never got there. Neither copy can go on.
    if (tunnel_) tunnel_->Cancel();
    if (qmp_) qmp_->Close();
    Status stop = qemuconfig::StopVm(def_, std::chrono::seconds(10));
    if (!stop.ok()) spdlog::warn("stopping the source QEMU: {}", stop.ToString());
    if (!postcopy_marker_.empty()) ::unlink(postcopy_marker_.c_str());
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
  if (qmp_ && qmp_->connected()) {
    Result<qmp::VmStatus> st = qmp_->QueryStatus();
    if (st.ok() && !st->running && dest_stopped_) {
      (void)WaitMigration({"completed"});
      Result<nlohmann::json> c = qmp_->Execute("cont");
      st = qmp_->QueryStatus();
      if (!c.ok()) spdlog::error("resuming the VM here: {}", c.status().ToString());
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
      case PageFate::kZero:
      case PageFate::kZeroSent:
        ++r_->pages_zero;
        break;
    }
  }
  if (ch_) {
    r_->control_bytes_sent = ch_->bytes_sent();
    r_->control_bytes_received = ch_->bytes_received();
  }
  if (tunnel_) r_->qemu_stream_bytes = tunnel_->bytes();
  r_->wire_bytes = WireBytes();
}

}  // namespace internal

using internal::Clock;
using internal::Since;
using internal::SourceSession;

Status Recover(const std::string& definition, std::chrono::milliseconds timeout, bool force,
               std::string* what, const std::string& run_dir) {
  Result<qemuconfig::VmDefinition> def = qemuconfig::LoadVmDefinition(definition);
  if (!def.ok()) return def.status();
  const std::string marker = run_dir + "/mkd-migrate-" + def->uuid.ToString() + ".postcopy";
  if (std::filesystem::exists(marker)) {
    return Status::FailedPrecondition(
        "VM " + def->name + " was moved by post-copy (" + marker +
        "): it ran at the destination, so this host's copy of its memory is stale and is never "
        "resumed, not even with --force. If the destination lost it, restart the VM from its "
        "disk; delete the marker only if you know the destination never ran it");
  }
  const std::optional<pid_t> pid = qemuconfig::RunningPid(*def);
  if (!pid) {
    *what = "VM " + def->name + " has no QEMU on this host: nothing to recover here";
    return Status::Ok();
  }
  // A killed mkd-migrate may have left the guest's vCPUs throttled (auto-converge).
  std::string released;
  MKD_RETURN_IF_ERROR(ReleaseLeftoverThrottle(ThrottleFs{}, ThrottleGroupName(def->uuid),
                                              static_cast<int>(*pid), &released));
  Result<qmp::QmpClient> q =
      qmp::QmpClient::Connect(qemuconfig::PathsFor(*def).qmp_socket, timeout);
  if (!q.ok()) return q.status();
  Result<qmp::MigrationInfo> info = q->QueryMigrate();
  if (!info.ok()) return info.status();
  if (info->status == "completed" && !force) {
    *what =
        "QEMU completed the migration: the VM should run at the destination (check it); "
        "if it does not, --force resumes it here";
    return Status::Ok();
  }
  std::string done = released.empty() ? "" : released + "; ";
  const bool migrating = info->status == "setup" || info->status == "active" ||
                         info->status == "pre-switchover" || info->status == "device" ||
                         info->status == "cancelling";
  if (migrating) {
    Result<nlohmann::json> c = q->Execute("migrate_cancel");
    if (!c.ok()) return c.status();
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      info = q->QueryMigrate();
      if (!info.ok()) return info.status();
      if (info->status == "cancelled" || info->status == "failed") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    done = "cancelled QEMU's migration (it was " + info->status + "); ";
  }
  Result<qmp::VmStatus> st = q->QueryStatus();
  if (!st.ok()) return st.status();
  if (!st->running && (st->status != "postmigrate" || force)) {
    Result<nlohmann::json> c = q->Execute("cont");
    if (!c.ok()) return c.status();
    done += "resumed the VM (it was " + st->status + ")";
  } else {
    done += st->running ? "the VM runs here" : "the VM is " + st->status;
  }
  *what = done;
  return Status::Ok();
}

Status RunSource(const SourceOptions& options, MigrationReport* report,
                 const std::function<void(const Progress&)>& progress) {
  SourceSession s(options, report, progress);
  const auto start = Clock::now();
  Status status = s.Run();
  if (!status.ok()) s.Fail(status);
  if (!status.ok() || report->total_seconds == 0) report->total_seconds = Since(start);
  s.Account();
  return status;
}

}  // namespace mkd::migrate
