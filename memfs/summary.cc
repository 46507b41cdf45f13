// Filling the user.mkd.summary structs from memfs's state (see summary.h).
#include "memfs/summary.h"

namespace mkd::memfs {

memfs_protocol::BlockSummary BlockSummaryOf(const Block& block) {
  const IncarnationMeta m = block.meta();
  const BlockCounters c = block.counters();
  Result<uint64_t> resident = block.ResidentPages();
  memfs_protocol::BlockSummary s;
  s.state = IncarnationStateName(m.state);
  s.vm = m.key.vm;
  s.block = m.key.block;
  s.incarnation = m.key.incarnation;
  s.epoch = m.epoch;
  s.lineage = m.lineage;
  s.pages = m.pages;
  s.resident = resident.ok() ? *resident : 0;
  s.dirty_since_sync = block.dirty_since_sync_count();
  s.dirty_since_arrival = block.dirty_since_arrival_count();
  s.lost = block.lost_pages();
  s.syncs = c.syncs;
  s.writes = c.write_requests;
  s.pages_written = c.pages_written;
  s.zero_pages_written = c.zero_pages_written;
  s.refused_writes = c.refused_writes;
  s.failed_writes = c.failed_writes;
  s.pages_received = c.pages_received;
  s.pages_punched = c.pages_punched;
  s.pages_evicted = c.pages_evicted;
  s.left_unix_ms = m.left_unix_ms > 0 ? static_cast<uint64_t>(m.left_unix_ms) : 0;
  static constexpr const char* kRecord[] = {"saved", "saving", "failed"};
  s.record = kRecord[static_cast<int>(block.record_state())];
  return s;
}

memfs_protocol::VmSummary VmSummaryOf(const Uuid& vm, const Registry& registry) {
  memfs_protocol::VmSummary s;
  s.vm = vm;
  for (const auto& [name, b] : registry.Blocks(vm)) {
    s.blocks.emplace_back(name, std::string(IncarnationStateName(b->state())));
  }
  s.arrival = registry.PendingArrival(vm);
  return s;
}

memfs_protocol::HostSummary HostSummaryOf(const Registry& registry) {
  const HostTotals t = registry.Totals();
  memfs_protocol::HostSummary s;
  s.host_id = registry.host_id();
  s.vms = t.vms;
  s.live = t.live;
  s.incoming = t.incoming;
  s.stored = t.stored;
  s.stored_held_bytes = t.stored_resident_pages * kPageSize;
  if (registry.budget_bytes() != UINT64_MAX) s.budget_bytes = registry.budget_bytes();
  s.live_held_bytes = t.live_resident_pages * kPageSize;
  s.unsaved = t.unsaved;
  s.max_file_size = t.max_file_bytes;
  return s;
}

}  // namespace mkd::memfs
