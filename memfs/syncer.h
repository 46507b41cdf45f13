// Syncer: the dirty-log sync of one RAM block (docs/memfs.md): fsync(2) on the file through
// the mount makes the kernel write back every page the guest dirtied (each arrives as a FUSE
// WRITE and is recorded by Block), then the dirty set gathered since the last sync is taken.
//
// The fsync runs on a thread of its own, never on a FUSE request thread of the same inode (it
// would wait on itself), and is bounded by a timeout: a stuck kernel write-back is reported, not
// waited for forever. The pages a sync takes are handed to its consumer through the block's
// DirtyLog (dirty_log.h), under the same lock as the take, so that one consumer's syncs never
// hide pages from another. Thread-safe; syncs are serialised.
#ifndef MKD_MEMFS_SYNCER_H_
#define MKD_MEMFS_SYNCER_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "base/status.h"
#include "base/uuid.h"
#include "genstore/page_bitmap.h"
#include "memfs/block.h"
#include "memfs/dirty_log.h"

namespace mkd::memfs {

class Syncer {
 public:
  Syncer(std::string mountpoint, std::chrono::milliseconds timeout)
      : mountpoint_(std::move(mountpoint)), timeout_(timeout) {}

  // fsync `<mount>/<vm>/<block>` (inode `ino`), then the pages written back since the
  // previous sync of `consumer` (a DirtyLog name, already validated).
  Result<DirtyLog::Delivery> Sync(uint64_t ino, const Uuid& vm, const std::string& block_name,
                                  Block& block, const std::string& consumer);
  // A sync without the fsync: the pages written back since the previous sync of `consumer`, as
  // far as the kernel has written them back by now (pages still dirty in the page cache come in
  // a later sync). Waits only for a sync in progress, never for the kernel.
  Result<DirtyLog::Delivery> Take(uint64_t ino, Block& block, const std::string& consumer);
  // The pages of `consumer`'s last sync of inode `ino` (DirtyLog::Last), or nullopt. Does not
  // wait for a sync in progress.
  std::optional<PageBitmap> LastSync(uint64_t ino, const std::string& consumer) const;
  // Forgets the consumers of a released inode.
  void Forget(uint64_t ino);

 private:
  std::string mountpoint_;
  std::chrono::milliseconds timeout_;
  // Lock order: mu_, then logs_mu_.
  std::mutex mu_;               // one sync at a time: each takes "the dirty set since the last one"
  mutable std::mutex logs_mu_;  // guards logs_ (held briefly: never across an fsync)
  std::map<uint64_t, DirtyLog> logs_;
};

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_SYNCER_H_
