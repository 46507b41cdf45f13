// The source's post-copy loop (see postcopy_source.h).
#include "migrate-tool/postcopy_source.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "migrate-tool/fault_points.h"

namespace mkd::migrate {

PostcopySender::PostcopySender(PeerLink& ch, SourceRam& ram, PageBitmap missing,
                               std::function<Generation(uint64_t)> gen_of,
                               std::function<void(const SentRun&)> on_sent,
                               std::function<void()> on_running,
                               std::function<void(uint64_t, uint64_t)> on_progress,
                               PostcopySendOptions options)
    : ch_(ch),
      ram_(ram),
      missing_(std::move(missing)),
      gen_of_(std::move(gen_of)),
      on_sent_(std::move(on_sent)),
      on_running_(std::move(on_running)),
      on_progress_(std::move(on_progress)),
      o_(options) {
  o_.window = std::clamp<uint32_t>(o_.window, 1, kMaxPagesPerFrame);
  o_.push_pages = std::clamp<uint32_t>(o_.push_pages, 1, kMaxPagesPerFrame);
  buf_.resize(kMaxPagesPerFrame * kPageSize);
}

Status PostcopySender::SendRange(uint64_t first, uint64_t count, bool demanded) {
  missing_.ClearRange(first, count);
  (demanded ? stats_.sent_on_demand : stats_.pushed) += count;
  MKD_RETURN_IF_ERROR(SendPageRange(ch_, ram_, first, count, buf_.data(), gen_of_, on_sent_));
  return ch_.Flush();  // a faulting read waits for these
}

Status PostcopySender::Handle(const Frame& f) {
  switch (f.type) {
    case FrameType::kWant: {
      MKD_ASSIGN_OR_RETURN(WantFrame w, ParseWant(f.payload, {missing_.pages()}));
      stats_.wanted += w.pages.size();
      demand_.insert(demand_.end(), w.pages.begin(), w.pages.end());
      return Status::Ok();
    }
    case FrameType::kResult: {
      MKD_ASSIGN_OR_RETURN(ResultMsg r, ParseResult(f.payload));
      if (!r.ok) return Status::FailedPrecondition(ch_.peer_host() + ": " + r.message);
      on_running_();
      return Status::Ok();
    }
    case FrameType::kPostcopyDone: {
      MKD_ASSIGN_OR_RETURN(PostcopyDone d, ParsePostcopyDone(f.payload));
      stats_.done = d;
      done_ = true;
      return Status::Ok();
    }
    default:
      return Status::InvalidArgument("post-copy: unexpected " + std::string(FrameTypeName(f.type)));
  }
}

Status PostcopySender::Run() {
  const uint64_t pages = missing_.pages();
  bool end_sent = false;
  const uint64_t total = missing_.Count();
  stalled_since_ = std::chrono::steady_clock::now();
  auto last_progress = std::chrono::steady_clock::now();
  while (!done_) {
    if (std::chrono::steady_clock::now() - last_progress > std::chrono::milliseconds(200)) {
      on_progress_(stats_.sent_on_demand + stats_.pushed, total);
      last_progress = std::chrono::steady_clock::now();
    }
    // Everything the destination said so far, without waiting.
    while (ch_.Readable(std::chrono::milliseconds(0))) {
      MKD_ASSIGN_OR_RETURN(Frame f, ch_.Receive());
      MKD_RETURN_IF_ERROR(Handle(f));
    }
    if (done_) break;
    if (!demand_.empty()) {
      // Wanted pages first, oldest request first; each with the missing pages after it.
      const uint64_t p = demand_.front();
      demand_.pop_front();
      if (!missing_.Test(p)) continue;  // sent already (pushed, or in an earlier window)
      uint64_t n = 1;
      while (n < o_.window && p + n < pages && missing_.Test(p + n)) ++n;
      MKD_RETURN_IF_ERROR(SendRange(p, n, /*demanded=*/true));
      continue;
    }
    push_next_ = push_next_ < pages ? missing_.NextSet(push_next_) : pages;  // demand took some
    if (push_next_ < pages) {
      if (const uint64_t unacked = ch_.Unacked(); unacked > o_.max_unacked) {
        // The destination acknowledges nothing any more: the link or the peer is gone.
        if (unacked < last_unacked_) stalled_since_ = std::chrono::steady_clock::now();
        last_unacked_ = unacked;
        if (std::chrono::steady_clock::now() - stalled_since_ > o_.timeout) {
          return Status::Io(ch_.peer_host() + " acknowledged nothing for " +
                            std::to_string(o_.timeout.count()) +
                            " ms (the link or the destination is down)");
        }
        (void)ch_.Readable(std::chrono::milliseconds(1));  // a WANT would wake us
        continue;
      }
      stalled_since_ = std::chrono::steady_clock::now();
      last_unacked_ = UINT64_MAX;
      uint64_t n = 1;
      while (n < o_.push_pages && push_next_ + n < pages && missing_.Test(push_next_ + n)) ++n;
      MKD_RETURN_IF_ERROR(SendRange(push_next_, n, /*demanded=*/false));
      push_next_ += n;
      if (!halfway_ && stats_.pushed * 2 >= total) {
        halfway_ = true;
        MKD_RETURN_IF_ERROR(FaultPoint("source.postcopy"));  // half of the push is out
      }
      continue;
    }
    if (!end_sent) {
      MKD_RETURN_IF_ERROR(ch_.Send(FrameType::kPostcopyEnd, {}));
      end_sent = true;
    }
    if (!ch_.Readable(o_.timeout)) {
      return Status::Io(ch_.peer_host() + " did not confirm the post-copy within " +
                        std::to_string(o_.timeout.count()) + " ms after the last page");
    }
  }
  on_progress_(stats_.sent_on_demand + stats_.pushed, total);
  return Status::Ok();
}

}  // namespace mkd::migrate
