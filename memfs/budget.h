// Budget: how much memory stored incarnations may hold (--budget) and which of them give up
// pages when they hold more, or when the page store is full (docs/memfs.md, "Freeing memory").
// Live and incoming incarnations are neither counted nor evicted: the Registry passes only stored
// ones. Which pages of an incarnation go is Block::EvictColdest's choice, not this file's.
//
// Pure logic: no files, no locks, no clock; the Registry calls it under its lock with a view of
// its stored incarnations and a function that evicts from one of them.
#ifndef MKD_MEMFS_BUDGET_H_
#define MKD_MEMFS_BUDGET_H_

#include <cstdint>
#include <functional>
#include <vector>

namespace mkd::memfs {

// One stored incarnation as the budget sees it.
struct StoredUsage {
  int64_t left_unix_ms = 0;       // when its VM left (eviction order)
  uint64_t resident_pages = 0;    // memory it holds in the page store
  bool open_for_writing = false;  // a writer has it: counted, but not evicted
};

class Budget {
 public:
  // `bytes`: UINT64_MAX means no limit.
  explicit Budget(uint64_t bytes) : bytes_(bytes) {}

  uint64_t bytes() const { return bytes_; }
  bool unlimited() const { return bytes_ == UINT64_MAX; }
  uint64_t pages() const;

  // Pages to free so that what `stored` holds fits the budget; 0 when it fits (or no limit).
  uint64_t PagesOver(const std::vector<StoredUsage>& stored) const;

  // The order in which stored incarnations give up pages: the one whose VM left longest ago
  // first (the paper's "not used recently", section 6.2); one open for writing never. Indexes
  // into `stored`; equal times keep their order.
  static std::vector<size_t> EvictionOrder(const std::vector<StoredUsage>& stored);

  // Asks `evict(index, pages_still_wanted)` (which returns the pages it freed) in `order` until
  // `pages` are freed or the order is exhausted. Returns the pages freed.
  static uint64_t EvictInOrder(const std::vector<size_t>& order, uint64_t pages,
                               const std::function<uint64_t(size_t, uint64_t)>& evict);

 private:
  uint64_t bytes_;
};

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_BUDGET_H_
