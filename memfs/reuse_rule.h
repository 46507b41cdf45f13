// The reuse-or-reset rule: when a VM's stored incarnation may serve as the base of its arrival
// (reused: its table and pages are what the migration compares against) and when its memory
// means nothing and is dropped (reset), which lineage and state a new or reset block starts in,
// and which arrivals a stored incarnation admits (docs/memfs.md, "Transitions";
// docs/security.md, ordering).
//
// Pure functions of incarnation metadata and the pending arrival: no files, no locks; the
// Registry applies their answers under its lock.
#ifndef MKD_MEMFS_REUSE_RULE_H_
#define MKD_MEMFS_REUSE_RULE_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/uuid.h"
#include "genstore/generation.h"
#include "genstore/incarnation.h"
#include "memfs-protocol/arrival.h"

namespace mkd::memfs {

using memfs_protocol::Arrival;  // the value of user.mkd.arrive

// The lineage of a block that boots cold, given the metadata of the VM's blocks. A VM's RAM
// blocks share one lineage (an arrival names one for all of them), and QEMU opens them one after
// the other: a block that boots while another block of the VM is live in its first epoch joins
// that cold boot. Otherwise this is a new life and gets a new (random) lineage: a block added to a
// VM that arrived in a later epoch starts its own life, so that its epoch-1 generations can never
// equal those of an older copy of that block.
Uuid LineageOfThisLife(const std::vector<IncarnationMeta>& vm_blocks);

// How a block starts: state, epoch and lineage.
struct BlockStart {
  IncarnationState state = IncarnationState::kLive;
  Epoch epoch = kFirstEpoch;
  Uuid lineage;
};

// A RAM file created in the VM's directory: incoming in the arrival's epoch and lineage when an
// arrival is pending, else live in epoch 1 (a cold boot, lineage as above).
BlockStart StartOfNewBlock(const std::optional<Arrival>& arrival,
                           const std::vector<IncarnationMeta>& vm_blocks);

// What opening a block for writing does with its incarnation.
struct OpenDecision {
  enum class Action {
    kKeep,   // not stored (live, incoming): nothing changes
    kReuse,  // stored, and the arrival is of its lineage: it becomes incoming, table kept
    kReset,  // stored, but a cold boot or another life arrives: its memory is dropped
  };
  Action action = Action::kKeep;
  // kReset: how the block starts again (live in epoch 1 for a cold boot, incoming in the
  // arrival's epoch and lineage for an arrival).
  BlockStart start;
};

// `block`: the opened block's metadata; `vm_blocks`: every block of the VM (the opened one
// included) for the lineage of a cold boot.
OpenDecision DecideWriterOpen(const IncarnationMeta& block, const std::optional<Arrival>& arrival,
                              const std::vector<IncarnationMeta>& vm_blocks);

// Whether the stored block `name` of VM `vm` (metadata `stored`; `highest` gives its highest page
// generation, asked only for the same lineage: it costs a pass over the table) admits `arrival`.
// Another lineage always does (its memory will be dropped). The same lineage only in a later epoch:
// not below the stored epoch (which the source may have reserved for itself when the VM left and
// never written in, so equal is fine), and above every generation a page here has, or that page
// would pass for one written in the new stay. InvalidArgument, naming the epochs, otherwise.
Status CheckArrivalOverStored(const std::string& vm, const std::string& name,
                              const IncarnationMeta& stored,
                              const std::function<Generation()>& highest, const Arrival& arrival);

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_REUSE_RULE_H_
