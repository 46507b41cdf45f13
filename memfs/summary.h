// The readable summaries behind `user.mkd.summary` (docs/memfs.md): one line of key=value pairs
// per object, so `getfattr -d -m user.mkd` prints something an operator reads at a glance and a
// script splits on spaces. Pure formatting; thread-safe.
#ifndef MKD_MEMFS_SUMMARY_H_
#define MKD_MEMFS_SUMMARY_H_

#include <optional>
#include <string>
#include <vector>

#include "memfs/block.h"
#include "memfs/registry.h"

namespace mkd::memfs {

// "state=live vm=... block=ram incarnation=1 epoch=1 lineage=... pages=65536 size=256MiB
//  resident=29184 held=114MiB dirty_since_sync=12 dirty_since_arrival=29184 lost=0 ..."
std::string BlockSummary(const Block& block);
// "vm=... blocks=ram:live arrival=none"
std::string VmSummary(const Uuid& vm,
                      const std::vector<std::pair<std::string, std::string>>& block_states,
                      const std::optional<Arrival>& arrival);
// "host=... vms=2 live=1 incoming=0 stored=1 stored_held=100MiB budget=1GiB live_held=..."
std::string HostSummary(const std::string& host_id, const HostTotals& totals,
                        uint64_t budget_bytes);
// 268435456 -> "256MiB", 1536 -> "1.5KiB".
std::string HumanBytes(uint64_t bytes);

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_SUMMARY_H_
