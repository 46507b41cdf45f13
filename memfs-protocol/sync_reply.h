// The value of `user.mkd.sync[.<consumer>]` (names.h): what a dirty-log sync of a RAM file found,
// "dirty_pages=N epoch=E syncs=S" and, for a named consumer, " new=0" or " new=1" (whether this
// sync started the consumer's view: a migration whose view was replaced must not trust it).
// memfs formats it, mkd-migrate parses it. Pure functions; thread-safe.
#ifndef MKD_MEMFS_PROTOCOL_SYNC_REPLY_H_
#define MKD_MEMFS_PROTOCOL_SYNC_REPLY_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "genstore/generation.h"

namespace mkd::memfs_protocol {

// The value is at most this long, less than the 128 bytes CPython's os.getxattr tries first, so
// one call is one sync; memfs answers a size query with it without running a sync.
inline constexpr size_t kSyncValueMax = 120;

struct SyncReply {
  uint64_t dirty_pages = 0;          // pages the sync found
  Epoch epoch = 0;                   // the block's epoch
  uint64_t syncs = 0;                // syncs of the block so far
  std::optional<bool> new_consumer;  // named consumers only: this sync started its view
  bool operator==(const SyncReply&) const = default;
};

// At most kSyncValueMax bytes for every value of the fields (sync_reply_test.cc proves it).
std::string FormatSyncReply(const SyncReply& reply);
// Checks length (<= kSyncValueMax), exactly the fields in their order, each a decimal number
// (epoch valid or 0, new 0 or 1). Corrupt errors naming user.mkd.sync: the value comes from the
// mount.
Result<SyncReply> ParseSyncReply(std::string_view value);

}  // namespace mkd::memfs_protocol

#endif  // MKD_MEMFS_PROTOCOL_SYNC_REPLY_H_
