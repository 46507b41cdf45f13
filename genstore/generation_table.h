// GenerationTable: the generation of every page of one RAM block (docs/architecture.md).
//
// Semantics:
//  - A new table has every page at kGenNeverWritten (0).
//  - ApplyDirty(dirty, e): every page the guest wrote in epoch e gets generation e.
//  - Invalidate(range): the pages become kGenInvalid (freed, or content not trustworthy).
//  - Provisional pages: while a migration writes pages into an incoming incarnation, each page
//    received is recorded with SetProvisional(page, gen). Until CommitProvisional() the table
//    reports such a page as kGenInvalid (so a crash or a persisted copy never claims it);
//    CommitProvisional() makes the received generations visible, AbortProvisional() leaves the
//    pages invalid for good. A page sent in round 1 and rewritten later in the same epoch must
//    never be reused: the abort path is what guarantees it.
//
// Thread-compatible: const methods may run concurrently; mutation needs external locking.
// Index and range arguments are checked and reported as Status (they may come from the kernel
// or a peer); sizes at construction are programming errors when too large (checked, abort).
#ifndef MKD_GENSTORE_GENERATION_TABLE_H_
#define MKD_GENSTORE_GENERATION_TABLE_H_

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "genstore/generation.h"
#include "genstore/page_bitmap.h"

namespace mkd {

class GenerationTable {
 public:
  GenerationTable() = default;
  // All pages never written. pages <= kMaxPages.
  explicit GenerationTable(uint64_t pages);
  // A table with the given generations and no provisional pages (used by the decoders).
  static GenerationTable FromGenerations(std::vector<Generation> gens);
  // For decoders that fill a table in place: resizes it to `pages` (<= kMaxPages, reusing its
  // storage), drops any provisional state and returns the generations for the caller to
  // overwrite, all of them.
  std::span<Generation> ResetForOverwrite(uint64_t pages);

  uint64_t pages() const { return gens_.size(); }
  // The committed generation of a page (kGenInvalid for a pending provisional page).
  Generation Get(uint64_t page) const { return gens_.at(page); }
  // All committed generations, index = page.
  std::span<const Generation> generations() const { return gens_; }

  // Every page set in `dirty` gets generation `epoch`. Fails when the sizes differ, when the
  // epoch is not a valid epoch, or while provisional pages are pending (an incoming
  // incarnation takes no guest writes until its migration commits).
  Status ApplyDirty(const PageBitmap& dirty, Epoch epoch);

  // Pages [first, first + count) become kGenInvalid, and any pending provisional generation of
  // theirs is dropped. Fails when the range is outside the table.
  Status Invalidate(uint64_t first, uint64_t count);

  // Records that `page` now holds content of generation `gen` (any value, including 0 for a page
  // the sender zeroed), visible only after CommitProvisional(). The page reads as invalid
  // meanwhile.
  Status SetProvisional(uint64_t page, Generation gen);
  uint64_t provisional_count() const { return provisional_.pages() ? provisional_.Count() : 0; }
  bool has_provisional() const { return provisional_.pages() != 0 && provisional_.Any(); }
  // Makes every pending provisional generation the page's generation.
  void CommitProvisional();
  // Forgets the pending generations: those pages stay kGenInvalid.
  void AbortProvisional();

  // Equal committed generations and equal pending provisional state.
  bool operator==(const GenerationTable& other) const;

 private:
  std::vector<Generation> gens_;
  // Pending provisional generations; allocated on the first SetProvisional, freed at commit/abort.
  PageBitmap provisional_;
  std::vector<Generation> pending_;
};

}  // namespace mkd

#endif  // MKD_GENSTORE_GENERATION_TABLE_H_
