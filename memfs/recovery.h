// Recovery: what the daemon makes at start of what the Store and the page store hold
// (docs/memfs.md, "Restart"). Records that were live or incoming when the daemon stopped are
// dropped (their page cache died with the mount, so the page store may miss the last writes), and
// so are older stored incarnations of a block; the newest stored one is kept if its record has
// digests of every page and its page-store file exists with the table's size, and then every page
// with a valid generation is compared with its digest (a mismatch makes the page invalid);
// page-store files no kept record names are deleted.
//
// The decisions are pure functions (PlanRecovery, CheckRecord, CheckFileSize, StrayFiles);
// RecoverStore applies them through the Store and the PageStore (page_store.h), logging each
// thing it drops. Runs before the mount serves anything: no lock of its own.
#ifndef MKD_MEMFS_RECOVERY_H_
#define MKD_MEMFS_RECOVERY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "genstore/incarnation.h"
#include "genstore/store.h"
#include "memfs/block.h"
#include "memfs/page_store.h"

namespace mkd::memfs {

using BlockId = std::pair<Uuid, std::string>;  // (VM, block name)

// What to do with the records the Store holds.
struct RecoveryPlan {
  // The newest stored incarnation of each block, by block (the order blocks get inodes).
  std::map<BlockId, IncarnationMeta> keep;
  // Live or incoming when the daemon stopped: not trustworthy.
  std::vector<IncarnationMeta> untrusted;
  // Stored, but a newer stored incarnation of the block exists.
  std::vector<IncarnationMeta> superseded;
  // The highest incarnation number of each block among all records (new ones count from it).
  std::map<BlockId, uint64_t> last_incarnation;
};
RecoveryPlan PlanRecovery(const std::vector<IncarnationMeta>& records);

// Why a kept incarnation cannot be recovered from its record (no digests of every page), or
// nullopt.
std::optional<std::string> CheckRecord(const Incarnation& inc);
// Why its page-store file cannot hold it (`file_bytes`: the file's size, or -errno), or nullopt.
std::optional<std::string> CheckFileSize(const Incarnation& inc, int64_t file_bytes);
// The files in `files` that no incarnation in `kept` names.
std::vector<PageStoreEntry> StrayFiles(const std::vector<PageStoreEntry>& files,
                                       const std::vector<IncarnationKey>& kept);

// What the restart kept.
struct Recovered {
  std::vector<std::shared_ptr<Block>> blocks;  // stored, in the plan's order
  std::map<BlockId, uint64_t> last_incarnation;
};
// Applies the above: deletes the records and files it drops, verifies the pages of the kept
// incarnations (persisting a record whose pages mismatched), deletes stray files. Fails only
// when the Store cannot be listed.
Result<Recovered> RecoverStore(Store& store, PageStore& pages);

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_RECOVERY_H_
