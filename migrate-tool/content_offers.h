// ContentOffers: the source's side of reuse by content (docs/migrate.md, "Reuse by content").
// In the first pass the source offers pages by their digests (OFFER frames) instead of sending
// them; the destination takes each one from a page it holds with the same content, or asks for
// it (NEED, one per OFFER, in order). This class keeps the offers awaiting their NEED, checks each
// NEED against its offer (a destination may only ask for pages that were offered), and decides
// whether offering still pays: an entry costs 56 bytes against a page's 4,096, so once
// kProbePages pages were answered and fewer than 1 in kMinTakenRatio was taken, offering stops
// for the rest of the migration (the pages go as pages). The source keeps at most kWindowPages
// offered pages waiting for their NEED (docs/decisions.md, "content"). Pure bookkeeping, no I/O;
// thread-compatible.
#ifndef MKD_MIGRATE_TOOL_CONTENT_OFFERS_H_
#define MKD_MIGRATE_TOOL_CONTENT_OFFERS_H_

#include <cstdint>
#include <deque>
#include <limits>
#include <string>
#include <vector>

#include "base/status.h"
#include "migrate-tool/wire.h"

namespace mkd::migrate {

class ContentOffers {
 public:
  // Answered pages before offering may stop, and the least share taken (1 in N) for it to go on.
  static constexpr uint64_t kProbePages = 1024;
  static constexpr uint64_t kMinTakenRatio = 32;
  // Offered pages the source lets wait for their NEED before it waits for the oldest: as many as
  // the probe, so a destination that takes nothing costs at most this many offers. (Sending
  // pages instead of waiting was tried on first hops: the pages queued at the destination ahead
  // of the next OFFERs delayed their NEEDs further, and few pages were offered at all. A return
  // hop does so until the probe is over: DoNotWaitUntilProven, docs/decisions.md.)
  static constexpr uint64_t kWindowPages = kProbePages;
  // Pages one OFFER gathers at most, from any number of ranges (a guest's scattered writes are
  // ranges of one page): a quarter of the window, so that four are on their way at once.
  static constexpr uint64_t kBatchPages = kWindowPages / 4;

  explicit ContentOffers(bool enabled) : offering_(enabled), enabled_(enabled) {}

  // A hop whose destination holds the VM already (a return hop: its pages that changed are
  // mostly new content) does not wait for NEEDs until the probe showed that offering pays:
  // until then, a page the window has no room for goes as a page, so the link is not idle
  // while the first answers make their round trip. A first hop waits (its pages may all be
  // held by content, a sibling's: docs/decisions.md).
  void DoNotWaitUntilProven() { wait_unproven_ = false; }
  // Whether the source waits for the oldest NEED when the window is full.
  bool waits() const { return wait_unproven_ || proven(); }
  // Offered pages that may wait for their NEED: kWindowPages where the source waits, one OFFER's
  // (kBatchPages) while it does not, so a return hop's first pages leave once 256 pages are
  // read and digested rather than 1,024, and its offers go between its pages.
  uint64_t window() const { return waits() ? kWindowPages : kBatchPages; }
  // Offered pages that may stay without their NEED once a range went (AnswerNeeds' `keep`):
  // the window where the source waits; any number where it does not (NEEDs read as they come).
  uint64_t keep() const { return waits() ? kWindowPages : std::numeric_limits<uint64_t>::max(); }
  // The probe is over and at least 1 in kMinTakenRatio of the pages answered were taken.
  bool proven() const { return answered_ >= kProbePages && taken_ * kMinTakenRatio >= answered_; }

  // Whether the next pages should be offered rather than sent.
  bool offering() const { return offering_; }
  // An OFFER of these pages (strictly increasing, as the frame carries them) went out.
  void Offered(std::vector<uint64_t> pages);
  // The OFFER payload of these entries (1..kMaxOfferPages, strictly increasing pages) for
  // `block`, its pages recorded as offered (Offered): the caller sends it.
  std::string Offer(uint32_t block, const std::vector<OfferEntry>& entries);
  // Offers still waiting for their NEED, and their pages.
  bool pending() const { return !pending_.empty(); }
  uint64_t pending_pages() const { return pending_pages_; }

  // The NEED for the oldest pending offer: `offered` entries, of which `needed` (strictly
  // increasing) must be sent. kInvalidArgument, naming `peer`, when there is no pending offer,
  // `offered` is not its size or a needed page was not offered in it. On success `*taken` gets
  // the offered pages the destination took (the rest are `needed`).
  Status Answer(uint32_t offered, const std::vector<uint64_t>& needed, const std::string& peer,
                std::vector<uint64_t>* taken);

  uint64_t offered_pages() const { return offered_; }
  uint64_t taken_pages() const { return taken_; }
  uint64_t needed_pages() const { return needed_; }
  uint64_t offers() const { return offers_; }
  bool enabled() const { return enabled_; }
  // Why offering stopped ("" while it goes on or when it was never enabled).
  const std::string& stopped() const { return stopped_; }

 private:
  bool offering_;
  bool enabled_;
  bool wait_unproven_ = true;
  std::deque<std::vector<uint64_t>> pending_;
  uint64_t offered_ = 0, taken_ = 0, needed_ = 0, offers_ = 0;
  uint64_t answered_ = 0;  // offered pages whose NEED came
  uint64_t pending_pages_ = 0;
  std::string stopped_;
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_CONTENT_OFFERS_H_
