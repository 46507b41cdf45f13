// The source's page pipe around the rounds (see source_session.h): dirty-log syncs on a thread of
// their own that overlap the sending of the pages before them, and auto-converge (the vCPU
// throttle of docs/migrate.md, "Convergence"). Touches the RAM file's sync only from that thread,
// the vCPU throttle through SourceVm::Throttle, QEMU through its monitor (query-cpus-fast).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <optional>

#include "migrate-tool/source_session.h"

namespace mkd::migrate::internal {

Status SourceSession::StartDirtyLog() {
  {
    StageTimer timer(&r_->pipe.sync);
    last_cut_ = Now();
    first_take_ = last_cut_;
    // Its pages were written back before the table is read: the table has them.
    MKD_RETURN_IF_ERROR(ram_->Take().status());
  }
  StartDigests();  // --verify: after the take, so that every page written back since is stale
  streamed_ = PageBitmap(summary_.pages);
  written_back_early_ = PageBitmap(summary_.pages);
  stream_job_ = std::async(std::launch::async, [this] { StreamWriteBack(); });
  return Status::Ok();
}

void SourceSession::StreamWriteBack() {
  const auto t0 = Clock::now();
  const uint64_t pages = summary_.pages;
  // At most kMaxWriteBackRanges takes: each costs memfs a few passes over the file's bitmaps
  // (2 MiB each for 64 GiB), so a large VM's ranges grow with it.
  const uint64_t step = std::max<uint64_t>({1, o_.write_back_pages, pages / kMaxWriteBackRanges});
  Status status;
  for (uint64_t first = 0; first < pages && status.ok() && !stream_cancel_; first += step) {
    status = ram_->WriteBack(first, std::min(step, pages - first));
    if (!status.ok()) break;
    const Clock::time_point cut = Now();
    Result<PageBitmap> got = ram_->Take();
    if (!got.ok()) {
      status = got.status();
      break;
    }
    std::lock_guard lock(stream_mu_);
    streamed_.Or(*got);
    streamed_any_ = streamed_any_ || got->Any();
    stream_cut_ = cut;
    stream_cv_.notify_all();
  }
  if (status.ok() && stream_cancel_) status = Status::Io("the migration ended");
  std::lock_guard lock(stream_mu_);
  stream_status_ = status;
  stream_seconds_ = Since(t0);
  stream_done_ = true;
  stream_cv_.notify_all();
}

bool SourceSession::Streaming() const { return stream_job_.valid(); }

Result<std::optional<PageBitmap>> SourceSession::TakeStreamed(bool wait) {
  std::optional<PageBitmap> got;
  if (!stream_job_.valid()) return got;
  std::unique_lock lock(stream_mu_);
  if (wait) stream_cv_.wait(lock, [this] { return stream_done_ || streamed_any_; });
  if (streamed_any_) {
    got.emplace(summary_.pages);
    std::swap(*got, streamed_);
    streamed_any_ = false;
  }
  const bool ended = stream_done_;
  const Status status = stream_status_;
  const Clock::time_point cut = stream_cut_;
  const double seconds = stream_seconds_;
  lock.unlock();
  if (ended) {
    stream_job_.get();
    if (!status.ok()) return status.WithContext("writing back the guest's dirty pages");
    // The rounds' rate counts from the write-back's last take; the rounds' syncs are timed as
    // syncs of their own (the write-back is no measure of one).
    prev_cut_ = last_cut_;
    last_cut_ = cut;
    r_->pipe.sync_total += seconds;
  }
  if (got) {
    MarkStale(*got);
    // The interval before round 1, for the pages held back from it (hot_pages.h).
    written_back_early_.Or(*got);
  }
  return got;
}

void SourceSession::MarkStale(const PageBitmap& written_back) {
  // Pages written since their digest was taken (--verify): taken again at the latest in the pause.
  if (stale_.pages() == written_back.pages()) stale_.Or(written_back);
}

void SourceSession::StartSync() {
  if (next_sync_.valid()) return;
  next_sync_ = std::async(std::launch::async, [this] {
    const auto t0 = Clock::now();
    TimedPages out;
    out.cut = Now();
    Result<PageBitmap> pages = ram_->Sync();
    if (pages.ok()) {
      out.pages = std::move(*pages);
    } else {
      out.status = pages.status();
    }
    out.seconds = Since(t0);
    return out;
  });
}

double SourceSession::ExpectedSyncSeconds() const {
  if (sync_timed_ || !first_take_) return last_sync_seconds_;
  const double covered = std::chrono::duration<double>(Now() - *first_take_).count();
  return std::max(last_sync_seconds_, kFirstSyncShare * covered);
}

Result<PageBitmap> SourceSession::TimedSync() {
  StageTimer timer(&r_->pipe.sync);
  if (!next_sync_.valid()) StartSync();
  TimedPages done = next_sync_.get();  // leaves next_sync_ empty
  last_sync_seconds_ = done.seconds;
  sync_timed_ = true;
  prev_cut_ = last_cut_;
  last_cut_ = done.cut;
  r_->pipe.sync_total += done.seconds;
  if (!done.status.ok()) return done.status;
  MarkStale(done.pages);
  return std::move(done.pages);
}

Result<std::unique_ptr<CpuThrottle>> SourceSession::CreateThrottle() {
  MKD_ASSIGN_OR_RETURN(std::vector<qmp::VcpuInfo> cpus, monitor_->QueryCpusFast());
  std::vector<int> tids;
  for (const qmp::VcpuInfo& c : cpus) tids.push_back(static_cast<int>(c.thread_id));
  return vm_->Throttle(tids);
}

void SourceSession::Converge(uint64_t dirtied_pages) {
  if (!policy_ || r_->rounds.empty()) return;
  const uint32_t want = policy_->AfterRound(dirtied_pages * kPageSize, r_->rounds.back().bytes);
  if (want == 0 || !r_->throttle.error.empty() || (throttle_ && throttle_->percent() == want)) {
    return;
  }
  if (!throttle_) {
    Result<std::unique_ptr<CpuThrottle>> t = CreateThrottle();
    if (!t.ok()) {
      r_->throttle.error = t.status().ToString();
      spdlog::warn("auto-converge: cannot slow the guest down ({}); going on without",
                   r_->throttle.error);
      return;
    }
    throttle_ = std::move(*t);
    throttled_since_ = Clock::now();
  }
  if (Status s = throttle_->Set(want); !s.ok()) {
    r_->throttle.error = s.ToString();
    spdlog::warn("auto-converge: {}; going on without", r_->throttle.error);
    LiftThrottle();
    return;
  }
  r_->throttle.max_percent = std::max(r_->throttle.max_percent, want);
  r_->throttle.steps = policy_->steps();
  spdlog::info("auto-converge: the guest dirties faster than the link carries; its vCPUs get {} "
               "% less CPU time",
               want);
}

void SourceSession::LiftThrottle() {
  if (!throttle_) return;
  r_->throttle.throttled_seconds = throttle_->ThrottledSeconds();
  r_->throttle.seconds = Since(throttled_since_);
  if (Status s = throttle_->Restore(); !s.ok()) {
    spdlog::warn("auto-converge: lifting the throttle: {}", s.ToString());
  }
  throttle_.reset();
}

Result<PageBitmap> SourceSession::SyncAfterPause() {
  // A sync started before the pause (a round's overlap) holds pages not sent yet: they go too,
  // and so do the pages the rounds held back for the pause (hot_pages.h).
  std::optional<PageBitmap> before;
  if (next_sync_.valid()) {
    MKD_ASSIGN_OR_RETURN(before, TimedSync());
  }
  Result<PageBitmap> last = TimedSync();
  if (!last.ok()) return last;
  if (before) last->Or(*before);
  if (hot_) last->Or(hot_->held());
  return last;
}

}  // namespace mkd::migrate::internal
