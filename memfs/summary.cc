// Formatting of the user.mkd.summary values (see summary.h).
#include "memfs/summary.h"

#include <fmt/format.h>

#include "memfs/arrival.h"

namespace mkd::memfs {

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  if (unit == 0) return fmt::format("{}B", bytes);
  std::string s = fmt::format("{:.1f}", v);
  if (s.size() > 2 && s.substr(s.size() - 2) == ".0") s.resize(s.size() - 2);
  return s + kUnits[unit];
}

std::string BlockSummary(const Block& block) {
  const IncarnationMeta m = block.meta();
  const BlockCounters c = block.counters();
  Result<uint64_t> resident = block.ResidentPages();
  const uint64_t res = resident.ok() ? *resident : 0;
  std::string s = fmt::format(
      "state={} vm={} block={} incarnation={} epoch={} lineage={} pages={} size={} "
      "resident={} held={}",
      IncarnationStateName(m.state), m.key.vm.ToString(), m.key.block, m.key.incarnation, m.epoch,
      m.lineage.ToString(), m.pages, HumanBytes(m.pages * kPageSize), res,
      HumanBytes(res * kPageSize));
  s += fmt::format(" dirty_since_sync={} dirty_since_arrival={} lost={} syncs={}",
                   block.dirty_since_sync_count(), block.dirty_since_arrival_count(),
                   block.lost_pages(), c.syncs);
  s += fmt::format(
      " writes={} pages_written={} zero_pages_written={} refused_writes={} failed_writes={} "
      "pages_received={} pages_punched={} pages_evicted={}",
      c.write_requests, c.pages_written, c.zero_pages_written, c.refused_writes, c.failed_writes,
      c.pages_received, c.pages_punched, c.pages_evicted);
  if (m.left_unix_ms > 0) s += fmt::format(" left_unix_ms={}", m.left_unix_ms);
  // Whether the database holds this state: "saving" while the record of a VM that left is being
  // written, "failed" when that write failed (retried; a restart now would drop the memory).
  static constexpr const char* kRecord[] = {"saved", "saving", "failed"};
  s += fmt::format(" record={}", kRecord[static_cast<int>(block.record_state())]);
  return s;
}

std::string VmSummary(const Uuid& vm,
                      const std::vector<std::pair<std::string, std::string>>& block_states,
                      const std::optional<Arrival>& arrival) {
  std::string blocks;
  for (const auto& [name, state] : block_states) {
    if (!blocks.empty()) blocks += ",";
    blocks += name + ":" + state;
  }
  return fmt::format("vm={} blocks={} arrival={}", vm.ToString(), blocks.empty() ? "none" : blocks,
                     arrival ? FormatArrival(*arrival) : "none");
}

std::string HostSummary(const std::string& host_id, const HostTotals& t, uint64_t budget_bytes) {
  return fmt::format(
      "host={} vms={} live={} incoming={} stored={} stored_held={} budget={} live_held={} "
      "unsaved={} max_file_size={}",
      host_id, t.vms, t.live, t.incoming, t.stored, HumanBytes(t.stored_resident_pages * kPageSize),
      budget_bytes == UINT64_MAX ? "none" : HumanBytes(budget_bytes),
      HumanBytes(t.live_resident_pages * kPageSize), t.unsaved, t.max_file_bytes);
}

}  // namespace mkd::memfs
