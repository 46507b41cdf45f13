// Registry: the migration side of the lifecycle (see registry.h) — an arrival prepared, committed
// or aborted, and a running VM going on in a later epoch. Each takes Registry::mu_; the records
// of aborted blocks are written after it is released. Errors are Status values.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "memfs-protocol/names.h"
#include "memfs/records.h"
#include "memfs/registry.h"

namespace mkd::memfs {

Status Registry::Arrive(const Uuid& vm_id, const Arrival& arrival) {
  std::lock_guard lock(mu_);
  auto vm = vms_.find(vm_id);
  if (vm == vms_.end()) {
    return Status::NotFound("VM " + vm_id.ToString() + " has no directory here; mkdir it first");
  }
  if (!IsValidEpoch(arrival.epoch) || arrival.epoch > kMaxEpoch - kEpochHeadroom) {
    return Status::InvalidArgument("arrival: epoch " + std::to_string(arrival.epoch) +
                                   " is invalid or leaves no room for the next migrations");
  }
  for (const auto& [name, b] : vm->second.blocks) {
    const Block& block = *b.block;
    IncarnationState st = block.state();
    if (st == IncarnationState::kLive || b.writers > 0) {
      return Status::FailedPrecondition("VM " + vm_id.ToString() + " block " + name + " is " +
                                        std::string(IncarnationStateName(st)) +
                                        " here: it cannot arrive while it runs on this host");
    }
    MKD_RETURN_IF_ERROR(CheckArrivalOverStored(
        vm_id.ToString(), name, block.meta(), [&block] { return block.HighestGeneration(); },
        arrival));
  }
  vm->second.arrival = arrival;
  spdlog::info("VM {}: arrival prepared (epoch {}, lineage {})", vm_id.ToString(), arrival.epoch,
               arrival.lineage.ToString());
  return Status::Ok();
}

std::optional<Arrival> Registry::PendingArrival(const Uuid& vm) const {
  std::lock_guard lock(mu_);
  auto it = vms_.find(vm);
  if (it == vms_.end()) return std::nullopt;
  return it->second.arrival;
}

Status Registry::Commit(const Uuid& vm_id) {
  std::vector<Ino> invalidate;
  {
    std::lock_guard lock(mu_);
    auto vm = vms_.find(vm_id);
    if (vm == vms_.end() || !vm->second.arrival) {
      return Status::FailedPrecondition("VM " + vm_id.ToString() +
                                        ": no arrival is pending, nothing to commit");
    }
    const bool any_incoming = std::any_of(
        vm->second.blocks.begin(), vm->second.blocks.end(),
        [](const auto& e) { return e.second.block->state() == IncarnationState::kIncoming; });
    if (!any_incoming) {
      // Nothing arrived (the destination QEMU never opened its RAM files): committing would
      // report a VM that is not here.
      return Status::FailedPrecondition("VM " + vm_id.ToString() +
                                        ": no RAM block is incoming, nothing to commit (abort "
                                        "the arrival, " +
                                        std::string(memfs_protocol::kAbort) + ")");
    }
    for (auto& [name, b] : vm->second.blocks) {
      if (b.block->state() != IncarnationState::kIncoming) continue;
      if (const uint64_t refused = b.block->counters().refused_writes; refused > 0) {
        // Pages the destination QEMU dirtied before commit stay dirty in its page cache, and
        // the invalidation below cannot drop a dirty page: say so loudly.
        spdlog::warn(
            "VM {} block {}: {} kernel write-backs were refused during the arrival "
            "(the destination QEMU wrote guest RAM before the commit)",
            vm_id.ToString(), name, refused);
      }
      MKD_RETURN_IF_ERROR(b.block->Commit(vm->second.arrival->epoch, options_.postcopy_lease));
      MKD_RETURN_IF_ERROR(PersistRecord(*store_, *b.block));
      invalidate.push_back(b.ino);
    }
    spdlog::info("VM {}: arrival committed (epoch {}, {} blocks)", vm_id.ToString(),
                 vm->second.arrival->epoch, invalidate.size());
    vm->second.arrival.reset();
  }
  // The destination QEMU must read the committed pages, not what its page cache holds.
  InvalidateCache(invalidate);
  return Status::Ok();
}

Status Registry::Abort(const Uuid& vm_id) {
  std::vector<std::pair<std::shared_ptr<Block>, IncarnationKey>> aborted;
  std::vector<Ino> invalidate;
  {
    std::lock_guard lock(mu_);
    auto vm = vms_.find(vm_id);
    if (vm == vms_.end() || !vm->second.arrival) {
      return Status::FailedPrecondition("VM " + vm_id.ToString() + ": no arrival is pending");
    }
    for (auto& [name, b] : vm->second.blocks) {
      if (b.block->state() != IncarnationState::kIncoming) continue;
      MKD_RETURN_IF_ERROR(b.block->Abort(NowUnixMs()));
      b.block->SetRecordState(Block::RecordState::kSaving);
      aborted.emplace_back(b.block, b.block->meta().key);
      invalidate.push_back(b.ino);
    }
    vm->second.arrival.reset();
    spdlog::info("VM {}: arrival aborted; pages received are invalid", vm_id.ToString());
  }
  // Nothing the kernel cached of the files stays: not the received pages, and not the
  // attributes of the receiving state (read-write, kept up to a second: FsContext).
  InvalidateCache(invalidate);
  // As when a VM leaves: digests and the record without mu_, so other VMs do not wait.
  for (const auto& [block, key] : aborted) StoreAndLog(*store_, *block, key, "arrival aborted");
  EnforceBudget();
  return Status::Ok();
}

Status Registry::AdvanceEpoch(const Uuid& vm_id, Epoch epoch) {
  std::lock_guard lock(mu_);
  auto vm = vms_.find(vm_id);
  if (vm == vms_.end()) return Status::NotFound("VM " + vm_id.ToString() + " is not here");
  size_t advanced = 0;
  for (auto& [name, b] : vm->second.blocks) {
    if (b.block->state() != IncarnationState::kLive) continue;
    MKD_RETURN_IF_ERROR(b.block->AdvanceEpoch(epoch));
    ++advanced;
  }
  if (advanced == 0) {
    return Status::FailedPrecondition("VM " + vm_id.ToString() + " does not run here");
  }
  spdlog::info("VM {}: goes on in epoch {}", vm_id.ToString(), epoch);
  return Status::Ok();
}

}  // namespace mkd::memfs
