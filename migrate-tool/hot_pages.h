// HotPages: which of a pre-copy round's dirty pages wait for the pause. A page the guest wrote in
// two rounds in a row (or wrote again while it was held) is likely written again: sending it now
// would be undone by the next round, so it is held back and goes once, in the pause. For round 1
// the round before is what the first pass's write-back delivered (pages the guest wrote shortly
// before the hop or during the first pass), if the caller seeds it. Measured
// before (docs/evaluation.md, web): a web server's socket buffers were resent in every round, 31 %
// of a return hop's page transfers. Held pages are capped by the caller (what the link carries in
// half the downtime budget): a hot set larger than that is sent round by round as before, since
// holding it would make the pause too long. A held page the guest did not write in the next
// round has cooled off and goes with that round. Pure bookkeeping on bitmaps; thread-compatible.
#ifndef MKD_MIGRATE_TOOL_HOT_PAGES_H_
#define MKD_MIGRATE_TOOL_HOT_PAGES_H_

#include <cstdint>

#include "genstore/page_bitmap.h"

namespace mkd::migrate {

class HotPages {
 public:
  explicit HotPages(uint64_t pages) : prev_(pages), held_(pages) {}

  // Before round 1: the pages written in the interval before it (the first pass's write-back).
  void Seed(const PageBitmap& written);
  // One round: its dirty set (what the round's sync delivered) in, the pages to send in this
  // round out. The pages held now are held() afterwards; at most `max_held` of them, or none.
  PageBitmap Round(const PageBitmap& dirty, uint64_t max_held);
  // What waits for the pause (it goes there together with the pause's own set).
  const PageBitmap& held() const { return held_; }

 private:
  bool first_ = true;  // no interval before this round is known (round 1, not seeded)
  PageBitmap prev_;    // the last round's dirty set
  PageBitmap held_;
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_HOT_PAGES_H_
