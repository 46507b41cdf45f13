// The value of `user.mkd.summary` (names.h; docs/memfs.md has real output): one line of key=value
// fields separated by single spaces, so `getfattr -d -m user.mkd` prints something an operator
// reads at a glance and a script splits on spaces (tests/system/mkdsys/memfs_protocol.py does,
// checked against this file by memfs_protocol_python). Three shapes: a RAM file's, a VM
// directory's, the mount root's (the host's). memfs fills the structs from its state and formats
// them here; clients parse them here (untrusted: every field is checked). Pure functions;
// thread-safe.
#ifndef MKD_MEMFS_PROTOCOL_SUMMARY_H_
#define MKD_MEMFS_PROTOCOL_SUMMARY_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "base/uuid.h"
#include "genstore/generation.h"
#include "memfs-protocol/arrival.h"

namespace mkd::memfs_protocol {

// No summary is longer (an xattr value, Linux's XATTR_SIZE_MAX); parsers refuse longer ones.
inline constexpr size_t kSummaryValueMax = 65536;

// A RAM file: "state=live vm=<uuid> block=ram incarnation=1 epoch=1 lineage=<uuid> pages=65536
// size=256MiB resident=29184 held=114MiB dirty_since_sync=12 dirty_since_arrival=29184 lost=0
// syncs=3 writes=.. pages_written=.. zero_pages_written=.. refused_writes=.. failed_writes=..
// pages_received=.. pages_punched=.. pages_evicted=.. [left_unix_ms=..] record=saved".
// size and held are pages and resident in HumanBytes.
struct BlockSummary {
  std::string state;  // "live", "incoming", "stored" (genstore IncarnationStateName)
  Uuid vm;
  std::string block;  // genstore ValidateBlockName
  uint64_t incarnation = 0;
  Epoch epoch = 0;
  Uuid lineage;
  uint64_t pages = 0;
  uint64_t resident = 0;  // pages with content in the page store
  uint64_t dirty_since_sync = 0, dirty_since_arrival = 0, lost = 0, syncs = 0;
  uint64_t writes = 0, pages_written = 0, zero_pages_written = 0, refused_writes = 0,
           failed_writes = 0, pages_received = 0, pages_punched = 0, pages_evicted = 0;
  uint64_t left_unix_ms = 0;  // when the VM left (stored); 0: not shown
  // Whether the database holds this state: "saved", "saving" (the record of a VM that left is
  // being written), "failed" (that write failed; retried).
  std::string record = "saved";
  bool operator==(const BlockSummary&) const = default;
};
std::string FormatBlockSummary(const BlockSummary& s);
// Exactly the fields FormatBlockSummary writes (left_unix_ms optional), each well-formed: states
// and record one of their names, UUIDs, a valid block name, decimal numbers, an epoch <=
// kMaxEpoch, size and held what pages and resident make. Corrupt naming user.mkd.summary.
Result<BlockSummary> ParseBlockSummary(std::string_view line);

// A VM directory: "vm=<uuid> blocks=ram:live,vga:live arrival=none" (blocks=none without any;
// arrival is FormatArrival of a pending arrival).
struct VmSummary {
  Uuid vm;
  std::vector<std::pair<std::string, std::string>> blocks;  // name, state
  std::optional<Arrival> arrival;
};
std::string FormatVmSummary(const VmSummary& s);
Result<VmSummary> ParseVmSummary(std::string_view line);

// The mount root: "host=<id> vms=2 live=1 incoming=0 stored=1 stored_held=100MiB budget=1GiB
// live_held=.. unsaved=0 max_file_size=<bytes>" (budget=none without a budget). The *_held and
// budget values are HumanBytes: parsing gives the bytes to 3 significant digits.
struct HostSummary {
  std::string host_id;
  uint64_t vms = 0, live = 0, incoming = 0, stored = 0;
  uint64_t stored_held_bytes = 0;
  std::optional<uint64_t> budget_bytes;
  uint64_t live_held_bytes = 0;
  uint64_t unsaved = 0;
  uint64_t max_file_size = 0;
};
std::string FormatHostSummary(const HostSummary& s);
Result<HostSummary> ParseHostSummary(std::string_view line);

// 268435456 -> "256MiB", 1536 -> "1.5KiB", 100 -> "100B" (one decimal, ".0" dropped).
std::string HumanBytes(uint64_t bytes);
// The inverse, to the precision HumanBytes keeps; nullopt for anything HumanBytes never writes.
std::optional<uint64_t> ParseHumanBytes(std::string_view text);

// Every key=value field of any summary, in order; Corrupt unless the line is at most
// kSummaryValueMax bytes of fields "key=value" (non-empty, distinct keys) separated by one space.
Result<std::vector<std::pair<std::string, std::string>>> ParseSummaryFields(std::string_view line);

}  // namespace mkd::memfs_protocol

#endif  // MKD_MEMFS_PROTOCOL_SUMMARY_H_
