// The source's reuse by content (see source_session.h and content_offers.h): in the first pass,
// pages go as OFFER entries, up to ContentOffers::kBatchPages of them in one OFFER (scattered pages
// too) (index, generation, XXH3-64, SHA-256 of the content read now); the destination takes each
// from a page with that content on its host or asks for it with NEED, and those pages then go as
// pages (in post-copy they stay missing and are pushed after the switchover). Touches the link and
// the RAM file, from the session's thread.
#include "genstore/digests.h"
#include "genstore/zero_page.h"
#include "migrate-tool/content_digest.h"
#include "migrate-tool/source_session.h"

namespace mkd::migrate::internal {

Status SourceSession::OfferPageRange(uint64_t first, uint64_t count, char* buf,
                                     const std::function<Generation(uint64_t)>& gen_of,
                                     const std::function<void(const SentRun&)>& on_sent) {
  // An OFFER lists its pages in increasing order: a page offered again (delivered by the
  // write-back after its offer) starts a new one.
  if (!pending_offer_.empty() && first <= pending_offer_.back().page) {
    MKD_RETURN_IF_ERROR(FlushOffer());
  }
  {
    StageTimer timer(&r_->pipe.read);
    MKD_RETURN_IF_ERROR(ram_->ReadPages(first, count, buf));
  }
  StageTimer timer(&r_->pipe.send);
  for (uint64_t i = 0; i < count;) {
    const Generation gen = gen_of(first + i);
    const char* page = buf + i * kPageSize;
    if (!IsZeroPage(page)) {
      const auto t0 = Clock::now();
      pending_offer_.push_back(
          {.page = first + i, .gen = gen, .digest = PageDigest(page), .sha256 = PageSha256(page)});
      r_->content.digest_seconds += Since(t0);
      if (pending_offer_.size() >= ContentOffers::kBatchPages) MKD_RETURN_IF_ERROR(FlushOffer());
      ++i;
      continue;
    }
    // Zero pages go as ZEROS, as SendPageRange sends them; frames leave in the order their
    // pages were read, so the pages offered before go first.
    MKD_RETURN_IF_ERROR(FlushOffer());
    uint64_t j = i + 1;
    while (j < count && gen_of(first + j) == gen && IsZeroPage(buf + j * kPageSize)) ++j;
    MKD_RETURN_IF_ERROR(
        ch_->Queue(FrameType::kZeros,
                   EncodePagesHeader(kBlock, first + i, static_cast<uint32_t>(j - i), gen)));
    on_sent(SentRun{first + i, j - i, true});
    i = j;
  }
  return Status::Ok();
}

Status SourceSession::FlushOffer() {
  if (pending_offer_.empty()) return Status::Ok();
  const std::string offer = offers_.Offer(kBlock, pending_offer_);
  pending_offer_.clear();
  r_->content.offer_bytes += offer.size();
  return ch_->Queue(FrameType::kOffer, offer);
}

Status SourceSession::AnswerNeeds(uint64_t keep, const std::function<Generation(uint64_t)>& gen_of,
                                  const std::function<void(const SentRun&)>& on_sent, char* buf,
                                  bool send_needed) {
  bool flushed = false;
  if (keep == 0) MKD_RETURN_IF_ERROR(FlushOffer());  // every offer is to be answered
  while (offers_.pending()) {
    const bool must = offers_.pending_pages() > keep;
    if (!must && !ch_->Readable(std::chrono::milliseconds(0))) return Status::Ok();
    if (must && !flushed) {  // what it waits for may still be queued here
      StageTimer timer(&r_->pipe.send);
      MKD_RETURN_IF_ERROR(FlushOffer());
      MKD_RETURN_IF_ERROR(ch_->Flush());
      flushed = true;
    }
    const auto wait0 = Clock::now();
    Result<Frame> f = ch_->Receive();
    r_->pipe.content_wait += Since(wait0);
    MKD_RETURN_IF_ERROR(f.status());
    if (f->type == FrameType::kReady) {
      ready_early_ = true;  // the destination's QEMU waits: AwaitReady need not
      continue;
    }
    MKD_ASSIGN_OR_RETURN(Frame need_frame,
                         RequireFrameType(std::move(f), FrameType::kNeed, ch_->peer_host()));
    MKD_ASSIGN_OR_RETURN(NeedFrame need, ParseNeed(need_frame.payload, {summary_.pages}));
    std::vector<uint64_t> taken;
    MKD_RETURN_IF_ERROR(offers_.Answer(need.offered, need.pages, ch_->peer_host(), &taken));
    for (uint64_t p : taken) {
      fate_[p] = PageFate::kContent;
      if (!send_needed) missing_.Clear(p);  // post-copy: the destination holds it now
    }
    if (!send_needed) continue;  // post-copy: the pages asked for stay missing
    // Pages offered but not queued yet were read before these: their OFFER goes first.
    if (!need.pages.empty()) MKD_RETURN_IF_ERROR(FlushOffer());
    // The pages asked for go now, with their content and generation as of now: a page the guest
    // wrote since its offer goes again in a round anyway (its sync reports it).
    for (size_t i = 0; i < need.pages.size();) {
      size_t j = i + 1;
      while (j < need.pages.size() && need.pages[j] == need.pages[j - 1] + 1 &&
             j - i < kMaxPagesPerFrame) {
        ++j;
      }
      if (compress_) compress_->link_bytes_per_second = LinkRate();
      MKD_RETURN_IF_ERROR(SendPageRange(*ch_, *ram_, need.pages[i], j - i, buf, gen_of, on_sent,
                                        &r_->pipe, compress_ ? &*compress_ : nullptr));
      i = j;
    }
  }
  return Status::Ok();
}

}  // namespace mkd::migrate::internal
