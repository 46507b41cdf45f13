// DirtyLog: the consumers of one RAM block's dirty-log syncs. A sync takes the pages written back
// since the previous sync of the block (Block::TakeDirtySinceSync), whoever asked for it; a
// DirtyLog gives each named consumer its own view, so a sync made by one consumer (an operator's
// `getfattr -n user.mkd.sync`, a monitoring tool) never takes pages away from another (a running
// migration): the pages one consumer's sync takes are kept for every other known consumer until
// that consumer syncs. A consumer therefore sees, at each of its syncs, every page written back
// since its previous sync (possibly more: never fewer).
//
// Each consumer's last delivery is kept too (user.mkd.synced.<consumer> reads it), so it goes
// with the consumer when the consumer is replaced.
//
// Bounded: at most kMaxConsumers per block (each holds two bitmaps of the block, 32 KiB per GiB
// each: pages pending for it and its last delivery);
// a new consumer beyond that replaces the one unused longest. A replaced consumer's next sync
// reports it as new (Delivery::new_consumer), so a migration whose cursor was lost fails loudly
// instead of missing pages.
//
// Not thread-safe: the Syncer calls it under its lock, together with the take, so that no page
// taken by one sync can reach a consumer after that consumer's later sync returned.
#ifndef MKD_MEMFS_DIRTY_LOG_H_
#define MKD_MEMFS_DIRTY_LOG_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "base/status.h"
#include "genstore/page_bitmap.h"

namespace mkd::memfs {

class DirtyLog {
 public:
  static constexpr size_t kMaxConsumers = 8;
  // Consumer names: "" (the plain user.mkd.sync) or 1-32 of [a-z0-9-] starting with a letter.
  static constexpr size_t kMaxNameLength = 32;
  static Status ValidateName(std::string_view name);

  struct Delivery {
    PageBitmap pages;           // written back since this consumer's previous sync
    bool new_consumer = false;  // first sync of this name (or its cursor was replaced)
  };

  // `taken`: the pages the sync of `consumer` just took from the block. Returns them plus every
  // page other consumers' syncs took since this consumer's previous one, and keeps `taken` for
  // the other known consumers. `consumer` must be valid (ValidateName).
  Delivery Deliver(const std::string& consumer, const PageBitmap& taken);

  // The pages of `consumer`'s last sync; null when it has none (never synced, or replaced).
  const PageBitmap* Last(const std::string& consumer) const;

  size_t consumers() const { return consumers_.size(); }

 private:
  struct Consumer {
    PageBitmap pending;  // taken by other consumers' syncs since this one's last
    PageBitmap last;     // what this consumer's last sync delivered
    uint64_t last_use = 0;
  };
  std::map<std::string, Consumer> consumers_;
  uint64_t clock_ = 0;
};

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_DIRTY_LOG_H_
