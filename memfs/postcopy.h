// Postcopy: the pages a live block still lacks after a post-copy switchover (docs/postcopy.md,
// docs/architecture.md). The VM already runs here; the source holds the only copy of these pages.
// A READ that touches a missing page is *parked* (not answered) and its pages are handed to the
// post-copy driver (`mkd-migrate serve`) through user.mkd.wanted; the driver fetches them from
// the source and writes them in through user.mkd.receive, which answers every parked read whose
// pages are now all present. Pages the source pushes in the background arrive the same way.
//
// Never a wrong page: a received page is written only while it is still missing (a page the VM
// has since written here, or one that arrived twice, is skipped), and a read is answered only
// when every page it covers is present. If the driver stops polling for longer than the lease,
// or says the source is gone, the post-copy *fails*: parked and later reads of missing pages get
// an error (the VM cannot go on; the driver stops it) and the pages stay missing.
//
// Thread-safe: one mutex (mu_) guards everything; store writes of received pages happen under
// it so that a concurrent Claim (the VM writing a missing page) orders after them. Nothing here
// replies to FUSE: the caller answers the ParkedReads this returns. Lock order: Block::mu_
// before Postcopy::mu_.
#ifndef MKD_MEMFS_POSTCOPY_H_
#define MKD_MEMFS_POSTCOPY_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "genstore/page_bitmap.h"
#include "memfs-protocol/postcopy_values.h"
#include "memfs/page_file.h"

namespace mkd::memfs {

using PostcopyClock = std::chrono::steady_clock;

// A READ waiting for missing pages. `token` is the FUSE request (opaque here).
struct ParkedRead {
  void* token = nullptr;
  uint64_t offset = 0;  // reply: `size` bytes at `offset` of the page store file `fd`
  size_t size = 0;
  int fd = -1;
  uint64_t first = 0, last = 0;  // pages the read covers (inclusive)
  PostcopyClock::time_point since{};
};

// What user.mkd.postcopy shows (memfs-protocol/postcopy_values.h formats it).
using PostcopyStats = memfs_protocol::PostcopyStats;

class Postcopy {
 public:
  enum class ReadCheck { kPresent, kParked, kFailed };

  // `missing`: the pages still at the source. `lease`: how long the driver may stay silent.
  Postcopy(PageBitmap missing, std::chrono::milliseconds lease);
  Postcopy(const Postcopy&) = delete;
  Postcopy& operator=(const Postcopy&) = delete;

  // A read of pages [read.first, read.last]: kPresent (answer it now), kParked (kept, answered
  // by a later Receive or Fail), kFailed (answer with an error).
  ReadCheck ParkIfMissing(const ParkedRead& read);
  // The VM wrote (or punched) whole pages: they are no longer missing, later arrivals skip them.
  void Claim(uint64_t first, uint64_t count);
  bool IsMissing(uint64_t page) const;
  // Received content (`data`, count pages) or zeros (`data` null) for pages from `first`: the
  // still-missing ones are written to `file` and become present. Returns the reads now complete.
  // Io when the page store write fails (the pages stay missing).
  Result<std::vector<ParkedRead>> Receive(uint64_t first, uint64_t count, const char* data,
                                          PageFile& file);
  // Waits up to `wait` for pages reads are waiting for; returns at most `max` not handed out
  // before (in the order reads asked). Renews the lease.
  std::vector<uint64_t> TakeWanted(size_t max, std::chrono::milliseconds wait);
  // Fails the post-copy (no-op when it already ended): returns the parked reads (answer them
  // with an error) and sets *missing to the pages that never arrived.
  std::vector<ParkedRead> Fail(const std::string& reason, PageBitmap* missing);
  // True when active and the driver has not polled within the lease.
  bool LeaseExpired(PostcopyClock::time_point now) const;
  bool active() const;
  // Pages still missing (cheap: no statistics are computed).
  uint64_t missing() const;
  PostcopyStats Stats() const;

 private:
  enum class State { kActive, kComplete, kFailed };
  std::vector<ParkedRead> TakeCompleteLocked(PostcopyClock::time_point now);
  // active -> complete once nothing is missing.
  void MaybeCompleteLocked(PostcopyClock::time_point now);
  bool AnyMissingLocked(uint64_t first, uint64_t last) const;

  mutable std::mutex mu_;
  std::condition_variable wanted_cv_;
  PageBitmap missing_;
  PageBitmap requested_;  // handed to the driver (or queued), not yet arrived
  std::deque<uint64_t> wanted_;
  std::list<ParkedRead> parked_;
  std::vector<uint32_t> latencies_us_;  // of answered faults (capped)
  uint64_t missing_count_ = 0;
  State state_ = State::kActive;
  PostcopyStats stats_;  // the counters (state and times are filled in by Stats)
  std::chrono::milliseconds lease_;
  PostcopyClock::time_point start_;
  PostcopyClock::time_point last_poll_;
  PostcopyClock::time_point end_{};
};

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_POSTCOPY_H_
