// Reuse decision (docs/architecture.md, "Generations"): which pages of a migrating VM the
// destination already holds.
//
// Page p is reusable iff the destination's incarnation table `peer` has peer[p] == vm[p] and that
// generation is neither kGenNeverWritten nor kGenInvalid. Pages with vm[p] == 0 are zero pages:
// never sent (the destination makes sure they read as zero). Every other page is sent. Pages past
// the end of `peer` (a block that grew) are not reusable. Provisional pages of `peer` read as
// invalid, so they are never reusable.
//
// Pure functions; safe to call concurrently on tables nobody mutates.
#ifndef MKD_GENSTORE_COMPARE_H_
#define MKD_GENSTORE_COMPARE_H_

#include <cstdint>

#include "genstore/generation_table.h"
#include "genstore/page_bitmap.h"

namespace mkd {

// How the pages of a VM split for one migration; reusable + zero + to_send == vm.pages().
struct ReuseSummary {
  uint64_t reusable = 0;
  uint64_t zero = 0;
  uint64_t to_send = 0;
  bool operator==(const ReuseSummary&) const = default;
};

// Fills `reusable` (which must already have vm.pages() pages; it is overwritten, so one bitmap can
// be reused across calls without allocating) and returns the split. An empty `peer` (no
// incarnation on the destination) makes nothing reusable.
ReuseSummary ComputeReusable(const GenerationTable& vm, const GenerationTable& peer,
                             PageBitmap* reusable);

// The pages the destination must zero before it resumes the VM: vm[p] == 0 while the peer holds
// something else there (possible only if the peer's incarnation has other content, e.g. an
// invalidated page). `zero_fill` must have vm.pages() pages; it is overwritten.
void ComputeZeroFill(const GenerationTable& vm, const GenerationTable& peer, PageBitmap* zero_fill);

}  // namespace mkd

#endif  // MKD_GENSTORE_COMPARE_H_
