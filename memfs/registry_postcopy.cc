// Registry: the post-copy side of the lifecycle (see registry.h and postcopy.h): answering
// parked reads, failing a post-copy on the driver's word or when its lease runs out.
#include <spdlog/spdlog.h>

#include "memfs/registry.h"

namespace mkd::memfs {

void Registry::CompleteReads(const std::vector<ParkedRead>& reads, int err) const {
  if (!complete_read_) return;
  for (const ParkedRead& r : reads) complete_read_(r, err);
}

Status Registry::FailPostcopy(const Uuid& vm_id, const std::string& reason) {
  std::vector<ParkedRead> parked;
  size_t failed = 0;
  {
    std::lock_guard lock(mu_);
    auto vm = vms_.find(vm_id);
    if (vm == vms_.end()) return Status::NotFound("VM " + vm_id.ToString() + " is not here");
    for (auto& [name, b] : vm->second.blocks) {
      std::shared_ptr<Postcopy> pc = b.block->postcopy();
      if (!pc || !pc->active()) continue;
      const uint64_t missing = pc->missing();
      std::vector<ParkedRead> p = b.block->FailPostcopy(reason);
      parked.insert(parked.end(), p.begin(), p.end());
      spdlog::error("VM {} block {}: post-copy failed with {} pages still at the source: {}",
                    vm_id.ToString(), name, missing, reason);
      ++failed;
    }
  }
  CompleteReads(parked, EIO);
  if (failed == 0) {
    return Status::FailedPrecondition("VM " + vm_id.ToString() + " has no active post-copy");
  }
  return Status::Ok();
}

size_t Registry::CheckPostcopyLeases() {
  std::vector<Uuid> expired;
  {
    std::lock_guard lock(mu_);
    const auto now = PostcopyClock::now();
    for (auto& [vm_id, vm] : vms_) {
      for (auto& [name, b] : vm.blocks) {
        std::shared_ptr<Postcopy> pc = b.block->postcopy();
        if (pc && pc->LeaseExpired(now)) {
          expired.push_back(vm_id);
          break;
        }
      }
    }
  }
  for (const Uuid& vm : expired) {
    (void)FailPostcopy(vm, "its driver (mkd-migrate serve) stopped asking for pages for " +
                               std::to_string(options_.postcopy_lease.count()) + " ms");
  }
  return expired.size();
}

}  // namespace mkd::memfs
