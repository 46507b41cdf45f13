// The reuse-or-reset rule (see reuse_rule.h).
#include "memfs/reuse_rule.h"

namespace mkd::memfs {
namespace {

Status TooEarly(const std::string& vm, const std::string& name, const IncarnationMeta& stored,
                Generation highest, const Arrival& arrival) {
  return Status::InvalidArgument(
      "arrival: VM " + vm + " block " + name + " is stored here in epoch " +
      std::to_string(stored.epoch) + " with pages of generation up to " + std::to_string(highest) +
      "; an arrival of the same lineage must come in a later epoch, not " +
      std::to_string(arrival.epoch));
}

}  // namespace

Uuid LineageOfThisLife(const std::vector<IncarnationMeta>& vm_blocks) {
  for (const IncarnationMeta& m : vm_blocks) {
    if (m.state == IncarnationState::kLive && m.epoch == kFirstEpoch) return m.lineage;
  }
  return Uuid::Random();
}

BlockStart StartOfNewBlock(const std::optional<Arrival>& arrival,
                           const std::vector<IncarnationMeta>& vm_blocks) {
  if (arrival) return BlockStart{IncarnationState::kIncoming, arrival->epoch, arrival->lineage};
  return BlockStart{IncarnationState::kLive, kFirstEpoch, LineageOfThisLife(vm_blocks)};
}

OpenDecision DecideWriterOpen(const IncarnationMeta& block, const std::optional<Arrival>& arrival,
                              const std::vector<IncarnationMeta>& vm_blocks) {
  OpenDecision d;
  if (block.state != IncarnationState::kStored) return d;
  if (arrival && arrival->lineage == block.lineage) {
    // The VM returns: its stored incarnation is the base the migration compares against.
    d.action = OpenDecision::Action::kReuse;
    d.start = BlockStart{IncarnationState::kIncoming, arrival->epoch, arrival->lineage};
    return d;
  }
  // A cold boot (or an arrival of another life of the VM): the old memory means nothing.
  d.action = OpenDecision::Action::kReset;
  d.start = StartOfNewBlock(arrival, vm_blocks);
  return d;
}

Status CheckArrivalOverStored(const std::string& vm, const std::string& name,
                              const IncarnationMeta& stored,
                              const std::function<Generation()>& highest, const Arrival& arrival) {
  if (stored.lineage != arrival.lineage) return Status::Ok();  // another life: dropped on open
  const Generation h = highest();
  if (arrival.epoch < stored.epoch || arrival.epoch <= h) {
    return TooEarly(vm, name, stored, h, arrival);
  }
  return Status::Ok();
}

}  // namespace mkd::memfs
