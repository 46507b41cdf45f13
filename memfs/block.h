// Block: one RAM block of one VM on this host (a file `<vm-uuid>/<block>` on the mount), with the
// incarnation that holds its memory: state, generation table, dirty sets, page-store file and
// counters (docs/architecture.md, "Generations" and "States").
//
// States (IncarnationState):
//  - live: a QEMU maps the file. Every page the kernel writes back is dirty: it joins the dirty
//    set since the last sync and since arrival, and its generation becomes the VM's epoch.
//  - incoming: a migration is writing pages into it (ReceivePages/ReceiveZero): they are
//    provisional until Commit; kernel writebacks are refused (-EROFS) and counted. A post-copy
//    arrival also names the pages that will come only after the commit (ReceiveLater).
//  - live after a post-copy commit: the VM runs here while some pages are still missing; they
//    are tracked by a Postcopy (postcopy.h): reads of them wait, writes claim them.
//  - stored: the VM left; read-only. A page whose generation is invalid (evicted, or received
//    by an aborted migration) reads as -EIO: its content is not the VM's.
// A page whose write-back failed (page store full) is "lost": it reads as -EIO and its
// generation is invalid until the kernel writes it again, so it is never served or reused wrong.
//
// Data-path methods return 0 or a negative errno (FUSE convention); state changes return Status.
// Thread-safe: one mutex (mu_) guards all state; page-store I/O of whole-page writes runs outside
// it (the kernel orders writes to one page), partial-page writes serialise on rmw_mu_.
// Lock order: Registry::mu_, then persist_mu_ (record writes), then Block::mu_; rmw_mu_ before
// mu_.
#ifndef MKD_MEMFS_BLOCK_H_
#define MKD_MEMFS_BLOCK_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "genstore/digests.h"
#include "genstore/generation_table.h"
#include "genstore/incarnation.h"
#include "genstore/page_bitmap.h"
#include "memfs/page_file.h"
#include "memfs/postcopy.h"

namespace mkd::memfs {

// Counters since the block's incarnation began (shown in the summary xattr).
struct BlockCounters {
  uint64_t write_requests = 0;
  uint64_t pages_written = 0;       // pages stored with content
  uint64_t zero_pages_written = 0;  // all-zero pages written (kept as holes)
  uint64_t refused_writes = 0;      // kernel writebacks refused while incoming
  uint64_t failed_writes = 0;       // writes the page store could not take (pages lost)
  uint64_t syncs = 0;
  uint64_t pages_received = 0;  // pages written by a migration (incoming)
  uint64_t pages_evicted = 0;
  uint64_t pages_punched = 0;  // freed by fallocate(PUNCH_HOLE) / madvise(MADV_REMOVE)
};

class Block {
 public:
  // Takes the incarnation's metadata (key, state, epoch, lineage, pages), its table (pages
  // entries) and its open page-store file.
  Block(IncarnationMeta meta, GenerationTable table, PageFile file);
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;

  // ---- Data path (FUSE requests) ----
  // Size in bytes (pages * 4 KiB).
  uint64_t size() const;
  // Sets the size of a block that has none yet (0 -> n pages; equal size is a no-op). Any
  // other change is refused with -EPERM (a RAM block's size is fixed); sizes that are not a
  // multiple of 4 KiB or above the 1 TiB limit with -EINVAL.
  int SetSize(uint64_t bytes);
  // A write of `size` bytes at `offset` (whole pages from the kernel's write-back; partial pages
  // from write(2) are read-modified-written). -EFBIG past the end, -EROFS unless live.
  int Write(uint64_t offset, const void* data, size_t size);
  // Counts a write request that failed for good (the caller may retry a failed Write first).
  void CountFailedWrite();
  // Checks a read: returns the number of bytes that can be read at `offset` (clipped at the
  // end), or -EIO when a page in the range is lost (or, stored, invalid). Pages still missing
  // after a post-copy commit are the caller's to check (postcopy()).
  // *postcopy (when given) receives the post-copy of the last commit, if any, from the same look.
  int64_t CheckRead(uint64_t offset, size_t size,
                    std::shared_ptr<Postcopy>* postcopy = nullptr) const;
  // fallocate(PUNCH_HOLE) / madvise(MADV_REMOVE): whole pages in the range are invalidated
  // first, then freed; partial pages at the ends are zeroed in place. Live or stored only.
  int Punch(uint64_t offset, uint64_t length);
  // The page-store file descriptor (reads are spliced from it).
  int store_fd() const { return file_.fd(); }

  // ---- Dirty tracking ----
  // The pages written back since the last call (the dirty-log sync); resets the set.
  PageBitmap TakeDirtySinceSync();
  // Pages written since the VM arrived on this host (or booted here).
  PageBitmap DirtySinceArrival() const;

  // ---- Incoming migration ----
  // Writes `count` pages of content with generation `gen` (provisional until Commit). `data`
  // needs no alignment. FailedPrecondition unless incoming; OutOfRange past the end.
  Status ReceivePages(uint64_t first, uint64_t count, const void* data, Generation gen);
  // Makes pages holes (read as zeros) with provisional generation `gen`: 0 for pages the VM
  // never wrote, or the epoch in which the VM wrote zeros to them (kept, so that later reuse
  // comparisons see the page's real generation). FailedPrecondition unless incoming; OutOfRange
  // past the end; InvalidArgument for the invalid generation.
  Status ReceiveZero(uint64_t first, uint64_t count, Generation gen = kGenNeverWritten);
  // Post-copy: pages whose content comes only after the commit, with generation `gen` (never 0
  // or invalid: they hold something). Until it arrives they are missing: reads of them wait.
  // FailedPrecondition unless incoming; OutOfRange past the end; InvalidArgument for `gen`.
  Status ReceiveLater(uint64_t first, uint64_t count, Generation gen);
  // incoming -> live in `epoch`: provisional generations become the pages' generations. Pages
  // named by ReceiveLater become a Postcopy whose driver must poll within `lease`.
  Status Commit(Epoch epoch, std::chrono::milliseconds lease = std::chrono::seconds(5));
  // The post-copy of the last commit (null when it had no missing pages). It stays after it
  // completes or fails, for its statistics.
  std::shared_ptr<Postcopy> postcopy() const;
  // Fails an active post-copy: the missing pages become lost (reads fail, generation invalid).
  // Returns the parked reads to answer with an error.
  std::vector<ParkedRead> FailPostcopy(const std::string& reason);
  // live: the VM goes on in `epoch` (after the current one by at most kMaxAdvanceStep, and at
  // most kMaxEpoch - kEpochHeadroom). Pages written so far keep the current epoch as their
  // generation; pages written from now on get `epoch`. InvalidArgument otherwise.
  Status AdvanceEpoch(Epoch epoch);
  // incoming -> stored (the VM stays where it was, which counts as leaving at `now_unix_ms`):
  // every provisional page stays invalid.
  Status Abort(int64_t now_unix_ms);

  // ---- Lifecycle (called by the Registry) ----
  // live -> stored: applies pending generations, records the time the VM left.
  Status Leave(int64_t now_unix_ms);
  // stored -> incoming for a new arrival (same lineage): a new incarnation number, the table
  // kept as the base the migration compares against.
  Status BeginIncoming(uint64_t incarnation, Epoch epoch);
  // Forgets everything: all pages zero (holes), generation 0, new lineage, live in epoch 1.
  // For a cold boot of the VM.
  Status ResetForColdBoot(const IncarnationKey& key, const Uuid& lineage);
  // Frees the resident pages of a stored block with the lowest generations until `pages`
  // have been freed or none are left; returns the number freed. Generations are invalidated
  // before the memory is freed.
  Result<uint64_t> EvictColdest(uint64_t pages);
  // One XXH3-64 digest per page of the page store's content (a hole has the zero page's).
  // Reads only the resident pages (SEEK_DATA/SEEK_HOLE), and not under the block's lock, so its
  // cost follows the memory held, not the block's size, and requests on the block are not held
  // up meanwhile. A page written (or evicted) during the pass may get either digest: callers
  // digest a stored block, whose pages change only by eviction, which invalidates them first.
  // The result is kept and returned again, without reading, until the page store changes (a
  // write, a punched hole, a resize: PageFile::changes()): the digests a stored incarnation got
  // when it was left are the ones its next arrival's index (reuse by content) reads.
  Result<PageDigests> ComputeDigests() const;
  // Compares the page store with `digests`: pages with a valid generation whose content does
  // not match become invalid (and are freed). Returns the number of mismatches. Reads only the
  // resident pages. For the restart check.
  Result<uint64_t> VerifyDigests(const PageDigests& digests);

  // ---- Persistence (called by the Registry) ----
  // What the store gets for this block: metadata, table and (stored, when known) digests, all
  // from one moment.
  struct Record {
    IncarnationMeta meta;
    GenerationTable table;
    std::optional<PageDigests> digests;
  };
  // The record to persist: bumps the serial, stamps the time, applies pending generations.
  Record PersistView(int64_t now_unix_ms);
  // The same, for the stored incarnation `key`, which takes `digests` first; nullopt (nothing
  // changes) when the block is no longer that stored incarnation (it was opened again since).
  std::optional<Record> PersistStoredView(const IncarnationKey& key, PageDigests digests,
                                          int64_t now_unix_ms);
  // Digests of the stored content; forgotten when the block leaves the stored state or a live
  // block leaves (they are computed again for the new content).
  void SetDigests(PageDigests digests);
  bool has_digests() const;
  // Whether the store holds the block's lifecycle state: kSaving while a record is being
  // computed and written, kFailed after a write failed (the Registry retries it).
  enum class RecordState { kSaved, kSaving, kFailed };
  RecordState record_state() const;
  void SetRecordState(RecordState state);
  // kFailed -> kSaving for one retry; false when the block is not kFailed (nothing to retry, or
  // another thread is at it).
  bool ClaimFailedRecord();
  // Held by whoever writes or deletes the block's record in the store, from taking the view
  // to the end of the write, so that records reach the store in the order they were taken.
  // Lock order: Registry::mu_, persist_mu(), Block::mu_; never held while computing digests.
  std::mutex& persist_mu() const { return persist_mu_; }
  // The block's record and page-store file are gone (rm): no record may be written again.
  void MarkDropped();
  bool dropped() const;

  // ---- Views ----
  IncarnationMeta meta() const;           // with pending generations applied
  GenerationTable TableSnapshot() const;  // with pending generations applied
  // The highest generation of a page (invalid ones aside; 0 when none was written). O(pages).
  Generation HighestGeneration() const;
  IncarnationState state() const;
  BlockCounters counters() const;
  uint64_t dirty_since_sync_count() const;
  uint64_t dirty_since_arrival_count() const;
  uint64_t lost_pages() const;
  Result<uint64_t> ResidentPages() const { return file_.ResidentPages(); }
  PageFile& file() { return file_; }

 private:
  // Applies unapplied_ to table_ (live pages written since the last application).
  void ApplyPendingLocked() const;
  // Post-copy: whole pages written (or punched) over missing ones take their place in `pc` (the
  // block's post-copy, null when none); -EIO for a partial write of a missing page. Called
  // without the Block lock.
  static int ClaimForWrite(Postcopy* pc, uint64_t offset, uint64_t size);
  int WritePartialPage(uint64_t page, size_t in_page, const void* data, size_t size);
  void MarkWrittenLocked(uint64_t first, uint64_t count, bool ok);
  int CheckLiveWriteLocked(uint64_t offset, size_t size) const;
  // Why pages [first, first + count) cannot be received now (state, range), or OK.
  // A record is taken: pending generations applied, serial bumped, time stamped.
  void StampLocked(int64_t now_unix_ms);
  // A received page's generation must be below the arrival's epoch.
  Status CheckReceiveLocked(uint64_t first, uint64_t count, Generation gen,
                            std::string_view what) const;

  mutable std::mutex persist_mu_;  // see persist_mu()
  mutable std::mutex rmw_mu_;      // serialises read-modify-write of partial pages
  mutable std::mutex mu_;          // guards everything below
  IncarnationMeta meta_;
  mutable GenerationTable table_;
  mutable PageBitmap unapplied_;  // written, generation not yet set to the epoch
  PageBitmap dirty_since_sync_;
  PageBitmap dirty_since_arrival_;
  PageBitmap lost_;
  Epoch arrival_epoch_ = 0;  // incoming: the epoch the VM arrives in (received gens are below)
  PageBitmap later_;         // incoming: pages whose content follows the commit (post-copy)
  std::shared_ptr<Postcopy> postcopy_;
  BlockCounters counters_;
  std::optional<PageDigests> digests_;
  // ComputeDigests' last result and file_.changes() when it began: returned again while no change
  // of the page store completed since (a stored incarnation's digests at its next arrival).
  mutable std::mutex digest_cache_mu_;
  mutable std::optional<PageDigests> digest_cache_;
  mutable uint64_t digest_cache_changes_ = 0;
  RecordState record_state_ = RecordState::kSaved;
  bool dropped_ = false;
  PageFile file_;
};

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_BLOCK_H_
