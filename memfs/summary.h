// The user.mkd.summary values of memfs's objects: fills memfs-protocol's summary structs from a
// Block's and the Registry's state; the line format belongs to memfs-protocol/summary.h.
// Thread-safe (reads each object's state under its own locks).
#ifndef MKD_MEMFS_SUMMARY_H_
#define MKD_MEMFS_SUMMARY_H_

#include <optional>
#include <string>
#include <vector>

#include "memfs-protocol/summary.h"
#include "memfs/block.h"
#include "memfs/registry.h"

namespace mkd::memfs {

// The RAM file's summary (state, counters, resident pages, record state).
memfs_protocol::BlockSummary BlockSummaryOf(const Block& block);
// The VM directory's summary: its blocks' states and a pending arrival.
memfs_protocol::VmSummary VmSummaryOf(const Uuid& vm, const Registry& registry);
// The mount root's summary: the host's totals and budget.
memfs_protocol::HostSummary HostSummaryOf(const Registry& registry);

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_SUMMARY_H_
