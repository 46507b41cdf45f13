// The source's post-copy switchover (docs/postcopy.md): the steps of SourceSession that differ
// from pre-copy. Before the commit everything is as in pre-copy (the VM stays here on failure);
// after QEMU resumed the VM at the destination, this host holds the only copy of the pages the
// destination still lacks until the PostcopySender has sent them all.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "migrate-tool/fault_points.h"
#include "migrate-tool/postcopy_source.h"
#include "migrate-tool/source_session.h"

namespace mkd::migrate::internal {
namespace {

// Pages of one LATER run at most (memfs takes runs of up to 2^31 pages).
constexpr uint64_t kMaxReceiveRun = uint64_t{1} << 31;

}  // namespace

Status SourceSession::PreSync() {
  // While the guest still runs: a sync (so that the one at the pause covers only the pages
  // written since), the table, the reusable pages, and from them the pages the destination will
  // lack. At the pause only the pages written since are added: the pause does not grow with the
  // VM's size.
  Report("sync", 0, 0);
  uint64_t zeros = 0;
  MKD_ASSIGN_OR_RETURN(PageBitmap classified, Classify(&zeros, /*wait_for_write_back=*/true));
  missing_ = std::move(classified);
  missing_gens_.assign(summary_.pages, summary_.epoch);
  missing_.ForEachSet([this](uint64_t p) { missing_gens_[p] = TableGen(p); });
  return OfferMissing();
}

Status SourceSession::OfferMissing() {
  if (!offers_.offering()) return Status::Ok();
  std::string buf(kMaxPagesPerFrame * kPageSize, '\0');
  const auto gen = [this](uint64_t p) { return missing_gens_[p]; };
  const auto zeros_sent = [this](const SentRun& run) {  // OfferPageRange's ZEROS frames
    missing_.ClearRange(run.first, run.count);
    Sent(run);
  };
  Report("offering pages by content", 0, 0);
  const PageBitmap todo = missing_;
  uint64_t at = todo.NextSet(0);
  while (at < todo.pages() && offers_.offering()) {
    uint64_t n = 1;
    while (n < kMaxPagesPerFrame && at + n < todo.pages() && todo.Test(at + n)) ++n;
    MKD_RETURN_IF_ERROR(OfferPageRange(at, n, buf.data(), gen, zeros_sent));
    MKD_RETURN_IF_ERROR(AnswerNeeds(ContentOffers::kWindowPages, gen, zeros_sent, buf.data(),
                                    /*send_needed=*/false));
    at = todo.NextSet(at + n);
  }
  MKD_RETURN_IF_ERROR(AnswerNeeds(/*keep=*/0, gen, zeros_sent, buf.data(), /*send_needed=*/false));
  StageTimer timer(&r_->pipe.send);
  return ch_->Flush();
}

Status SourceSession::PostcopyMissing() {
  const auto t0 = Clock::now();
  const uint64_t bytes0 = ch_->bytes_sent();
  MKD_ASSIGN_OR_RETURN(PageBitmap last, SyncAfterPause());
  const Epoch e = summary_.epoch;
  if (Precopied()) {
    // Pre-copy sent every page once; what the guest wrote since the last round is missing.
    missing_ = std::move(last);
    missing_gens_.assign(summary_.pages, e);
  } else {
    // Pages written since PreSync: missing too, in epoch e (never reusable: no other host has
    // content of the current epoch).
    last.ForEachSet([&](uint64_t p) {
      missing_.Set(p);
      missing_gens_[p] = e;
      fate_[p] = PageFate::kZero;  // until sent
    });
  }
  // LATER frames: runs of missing pages with one generation, many runs per frame (a guest that
  // wrote scattered pages has thousands of runs, and the VM is paused meanwhile).
  std::vector<GenRun> runs;
  missing_.ForEachRun([&](uint64_t first, uint64_t count) {
    for (uint64_t at = first; at < first + count;) {
      uint64_t n = 1;
      while (at + n < first + count && missing_gens_[at + n] == missing_gens_[at] &&
             n < kMaxReceiveRun)
        ++n;
      runs.push_back(GenRun{at, static_cast<uint32_t>(n), missing_gens_[at]});
      at += n;
    }
  });
  for (size_t at = 0; at < runs.size(); at += kMaxLaterRuns) {
    const size_t end = std::min(runs.size(), at + kMaxLaterRuns);
    MKD_RETURN_IF_ERROR(ch_->Send(
        FrameType::kLater,
        EncodeLater(kBlock, std::vector<GenRun>(runs.begin() + static_cast<ptrdiff_t>(at),
                                                runs.begin() + static_cast<ptrdiff_t>(end)))));
  }
  r_->postcopy_missing = missing_.Count();
  // The pause's step, as a round that sent no pages (its bytes are the LATER frames).
  r_->rounds.push_back(RoundStat{static_cast<uint32_t>(r_->rounds.size()), 0,
                                 ch_->bytes_sent() - bytes0, Since(t0)});
  spdlog::debug("post-copy: {} pages missing at the destination", r_->postcopy_missing);
  return Status::Ok();
}

Status SourceSession::FinishPostcopy() {
  // From the migrate-continue on, the VM may run at the destination: this copy must never be
  // resumed by `mkd-migrate recover`, even if we die.
  postcopy_marker_ = o_.tunnel_dir + "/mkd-migrate-" + def_.uuid.ToString() + ".postcopy";
  {
    std::ofstream marker(postcopy_marker_);
    marker << "post-copy of VM " << def_.name << " to " << o_.to_host
           << " switched over: the VM runs there, this copy is stale\n";
    if (!marker) return Status::Io("writing " + postcopy_marker_);
  }
  PostcopySendOptions so;
  so.window = o_.postcopy_window;
  so.max_unacked = o_.postcopy_unacked;
  so.timeout = o_.timeout;
  Clock::time_point resumed{};
  std::atomic<int64_t> running_ns{0};
  PostcopySender sender(
      *ch_, *ram_, missing_, [this](uint64_t p) { return missing_gens_[p]; },
      [this](const SentRun& run) { Sent(run); },
      [&running_ns, this] {
        running_ns = (Clock::now() - start_).count();
        phase_ = SourcePhase::kDestRunning;
      },
      [this](uint64_t sent, uint64_t total) { Report("post-copy", sent, total); }, so);
  Status send_status;
  std::thread sender_thread([&] { send_status = sender.Run(); });
  const Status c = monitor_->MigrateContinue();
  resumed = Clock::now();
  r_->downtime_ours_ms = std::chrono::duration<double, std::milli>(resumed - paused_at_).count();
  Result<qmp::MigrationInfo> info =
      c.ok() ? WaitMigration({"completed"}) : Result<qmp::MigrationInfo>(c);
  if (info.ok() && info->downtime_ms)
    r_->downtime_qemu_ms = static_cast<double>(*info->downtime_ms);
  const Status tunnel = tunnel_->Join();
  if (!info.ok() || !tunnel.ok()) {
    // The destination QEMU cannot get its device state: it answers "not running" and stops.
    spdlog::warn("QEMU's switchover failed: {}", (info.ok() ? tunnel : info.status()).ToString());
  }
  sender_thread.join();
  const PostcopySendStats& st = sender.stats();
  if (!send_status.ok()) {
    if (send_status.code() == ErrorCode::kFailedPrecondition &&
        phase_ != SourcePhase::kDestRunning) {
      phase_ = SourcePhase::kDestStopped;  // a definite answer: resuming here is safe
    }
    return send_status;
  }
  postcopy_complete_ = true;
  r_->total_seconds = static_cast<double>(running_ns.load()) / 1e9;
  r_->postcopy_fetched = st.done.fetched;
  r_->postcopy_pushed = st.done.pushed;
  r_->postcopy_faults = st.done.faults;
  r_->fault_median_ms = st.done.fault_median_ms;
  r_->fault_p99_ms = st.done.fault_p99_ms;
  r_->fault_max_ms = st.done.fault_max_ms;
  r_->postcopy_complete_seconds = Since(resumed);
  spdlog::debug("post-copy: {} wanted, {} sent on demand, {} pushed", st.wanted, st.sent_on_demand,
                st.pushed);
  if (o_.verify) MKD_RETURN_IF_ERROR(Verify(/*after_postcopy=*/true));
  // The last frame: the destination confirms its QEMU runs (it does by now) and ends its side.
  MKD_RETURN_IF_ERROR(ch_->Send(FrameType::kWaitRunning, {}));
  MKD_ASSIGN_OR_RETURN(Frame f, ch_->Expect(FrameType::kResult));
  RetireSource();
  ::unlink(postcopy_marker_.c_str());
  return Status::Ok();
}

}  // namespace mkd::migrate::internal
