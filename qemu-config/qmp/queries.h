// Typed views of the QMP query replies the launcher and the migration tool read: query-status,
// query-migrate and query-cpus-fast (QEMU 7.2's qapi/run-state.json, qapi/migration.json and
// qapi/machine.json).
//
// The Decode* functions take the "return" value of the command and check every field they read
// by type; fields QEMU omits are std::nullopt, a field of the wrong type is a kCorrupt Status
// naming it. Fields not listed here stay reachable through `raw`. QmpClient::QueryStatus() and
// QueryMigrate() (client.h) call them. Pure functions; thread-compatible; never throw.
#ifndef MKD_QEMU_CONFIG_QMP_QUERIES_H_
#define MKD_QEMU_CONFIG_QMP_QUERIES_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace mkd::qmp {

// query-status, e.g. {"status": "running", "singlestep": false, "running": true}.
struct VmStatus {
  // "running", "paused", "inmigrate" (waiting for -incoming), "postmigrate" (source after a
  // completed migration), "finish-migrate" (source while stopped for the switchover, including
  // at pre-switchover), "prelaunch", "shutdown", ... (QEMU's RunState).
  std::string status;
  bool running = false;  // whether the guest's vCPUs run
};

// Requires "status" (string) and "running" (bool).
Result<VmStatus> DecodeVmStatus(const nlohmann::json& value);

// query-migrate. Before any migration QEMU 7.2 returns {}; on a destination, only "status".
struct MigrationInfo {
  // "" (none yet), "setup", "active", "pre-switchover", "device", "completed", "failed",
  // "cancelling", "cancelled", "postcopy-active", ... (QEMU's MigrationStatus).
  std::string status;
  std::optional<std::string> error_desc;         // "error-desc", when status is "failed"
  std::optional<uint64_t> total_time_ms;         // "total-time": since the start, or in all
  std::optional<uint64_t> setup_time_ms;         // "setup-time"
  std::optional<uint64_t> downtime_ms;           // "downtime": once completed
  std::optional<uint64_t> expected_downtime_ms;  // "expected-downtime": while active
  // From the "ram" object (source side only): guest RAM size, bytes sent, bytes still dirty.
  std::optional<uint64_t> ram_total_bytes;
  std::optional<uint64_t> ram_transferred_bytes;
  std::optional<uint64_t> ram_remaining_bytes;
  nlohmann::json raw;  // the whole reply, for anything else (e.g. ram.dirty-pages-rate)
};

// Requires an object; every listed field is optional but type-checked ("status" string,
// numbers non-negative integers, "ram" an object).
Result<MigrationInfo> DecodeMigrationInfo(const nlohmann::json& value);

// One element of query-cpus-fast, e.g. {"thread-id": 15119, "props": {...}, "qom-path":
// "/machine/unattached/device[0]", "cpu-index": 0, "target": "x86_64"}.
struct VcpuInfo {
  int64_t cpu_index = 0;  // "cpu-index": QEMU's index of the vCPU, >= 0
  int64_t thread_id = 0;  // "thread-id": the host thread (Linux tid) that runs it, > 0
};

// Caps what DecodeVcpus accepts: QEMU 7.2's x86 machines allow at most 1024 vCPUs (q35 maxcpus).
inline constexpr size_t kMaxVcpus = 1024;

// Requires an array of 1..kMaxVcpus objects, each with an integer "cpu-index" >= 0 and an
// integer "thread-id" > 0; every other field ("qom-path", "target", "props", ...) is ignored.
// Order is QEMU's. kCorrupt naming the element and field otherwise.
Result<std::vector<VcpuInfo>> DecodeVcpus(const nlohmann::json& value);

}  // namespace mkd::qmp

#endif  // MKD_QEMU_CONFIG_QMP_QUERIES_H_
