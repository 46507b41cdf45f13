// Records: writing a block's record (metadata, generation table, page digests) to the per-host
// Store, and dropping a block for good (record and page-store file). Functions, not a class: the
// Registry and the restart (recovery.h) call them with the Store and the block.
//
// Thread safety: each takes the block's record lock (Block::persist_mu) for its write, so that
// records reach the Store in the order they were taken; the caller may hold Registry::mu_ (lock
// order: Registry::mu_, Block::persist_mu, Block::mu_). StoreLeftBlock computes digests before
// taking any lock. Errors are the Store's (Io with the cause) or the page store's.
#ifndef MKD_MEMFS_RECORDS_H_
#define MKD_MEMFS_RECORDS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "genstore/incarnation.h"
#include "genstore/store.h"
#include "memfs/block.h"
#include "memfs/page_store.h"

namespace mkd::memfs {

// Wall-clock milliseconds since the epoch (record and leave times).
int64_t NowUnixMs();
// "VM <uuid> block <name> incarnation <n>", for log lines.
std::string DescribeIncarnation(const IncarnationKey& key);

// Persists the block's record with the digests it holds and sets its record state (saved or
// failed). Does nothing once the block is dropped.
Status PersistRecord(Store& store, Block& block);
// Computes the digests of a block that left (stored incarnation `key`) and persists it. Does
// nothing when the block was dropped or opened again meanwhile (another incarnation, whose
// opener persists it). Record state failed when the digests or the write fail.
Status StoreLeftBlock(Store& store, Block& block, const IncarnationKey& key);
// StoreLeftBlock, then one log line: stored (with the time it took), or why not (retried).
// `event` says what made the block stored ("the VM left", "arrival aborted").
void StoreAndLog(Store& store, Block& block, const IncarnationKey& key, std::string_view event);
// Deletes the block's record, then its page-store file; no record of it is written afterwards.
// A record or file already gone is fine.
Status DropBlock(Store& store, PageStore& pages, Block& block);

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_RECORDS_H_
