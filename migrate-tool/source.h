// The source side of a migration (mkd-migrate VM --to HOST): the sequence of docs/architecture.md
// ("A pre-copy hop") driven from the host the VM runs on. It talks to the local memfs through the
// VM's RAM file (ram_file.h), to the local QEMU over QMP, and to `mkd-migrate serve` on the
// destination over mutual TLS (channel.h). Failure before the destination commits leaves the VM
// running here with its memory untouched (the destination discards its provisional pages); see
// docs/migrate.md for every failure point.
#ifndef MKD_MIGRATE_TOOL_SOURCE_H_
#define MKD_MIGRATE_TOOL_SOURCE_H_

#include <chrono>
#include <functional>
#include <string>

#include "base/status.h"
#include "base/uuid.h"
#include "migrate-tool/compress_policy.h"
#include "migrate-tool/peer/tls.h"
#include "migrate-tool/report.h"
#include "migrate-tool/throttle_policy.h"
#include "migrate-tool/vcpu_throttle.h"

namespace mkd::migrate {

// Where mkd-migrate keeps its sockets and the post-copy marker files.
inline constexpr const char* kRunDir = "/run/miyakodori";

struct SourceOptions {
  std::string definition;  // the VM's definition file on this host
  std::string to_host;     // destination host id (its certificate's CN)
  std::string address;     // where to reach it (default: to_host)
  std::string host_id;     // this host's id, for the report
  peer::TlsConfig tls;
  std::chrono::milliseconds downtime{300};  // budget for the last round
  uint32_t max_rounds = 30;
  // Auto-converge (docs/migrate.md, "Convergence"): when the guest dirties memory faster than
  // the link carries it, its vCPU threads get less CPU time (cgroup cpu controller), rising
  // round by round as ThrottlePolicy says, lifted at the pause.
  bool auto_converge = true;
  ThrottleOptions throttle;
  ThrottleFs throttle_fs;
  uint64_t bandwidth = 0;  // bytes/s, 0 = unlimited
  // --compress: PAGES frames as zstd (PAGES_Z) when it pays (auto), always or never.
  CompressMode compress = CompressMode::kAuto;
  bool reuse = true;
  // Reuse by content (docs/migrate.md): the first pass offers pages by digest; the destination
  // takes them from pages with the same content it holds. Only with `reuse`.
  bool content_reuse = true;
  bool verify = false;
  std::chrono::milliseconds timeout{30'000};  // per network or QMP step
  std::string tunnel_dir = kRunDir;
  // Post-copy (docs/postcopy.md): resume at the destination at once, pages follow.
  bool postcopy = false;
  uint32_t precopy_rounds = 0;  // rounds of pre-copy before a post-copy switchover (0: none)
  uint32_t postcopy_window = 16;
  uint64_t postcopy_unacked = 256 * 1024;
  // The first pass writes the guest's dirty pages back this many pages at a time (16 MiB; more
  // for a VM over 16 GiB: at most 1,024 ranges) and sends each range's as soon as it is written
  // back (docs/decisions.md "The first pass starts on a take"). Tests set it smaller.
  uint64_t write_back_pages = 4096;
  // A VM libvirt manages (its definition's "manager": "libvirt"; docs/libvirt.md): libvirt moves
  // its domain (virsh migrate) while we move its memory.
  std::string libvirt_uri;                         // the destination's libvirt; default below
  std::string libvirt_connect = "qemu:///system";  // this host's libvirt
  std::string virsh = "virsh";
};

// The destination's libvirt URI when --libvirt gives none: libvirt's TLS transport to the
// address mkd-migrate reaches the destination at ("qemu+tls://HOST/system").
std::string DefaultLibvirtUri(const SourceOptions& options);

// The cpu cgroup that throttles a VM's vCPUs during its migration: "mkd-throttle-<uuid>".
inline std::string ThrottleGroupName(const Uuid& vm) { return "mkd-throttle-" + vm.ToString(); }

// A line of progress: phase and the numbers so far (the CLI shows them).
struct Progress {
  std::string phase;                         // "first pass", "round 3", "switchover", ...
  uint64_t done_pages = 0, total_pages = 0;  // in the current phase
  uint64_t wire_bytes = 0;
  double seconds = 0;
};

// Runs the migration; the report is filled also on failure (its outcome says what happened and
// where the VM runs). Returns the error that stopped it, if any.
Status RunSource(const SourceOptions& options, MigrationReport* report,
                 const std::function<void(const Progress&)>& progress);

// `mkd-migrate recover VM`: after mkd-migrate itself died (killed, host trouble) the source QEMU
// may still be migrating, or paused at pre-switchover waiting for a migrate-continue that never
// comes. Cancels QEMU's migration and resumes the VM here, unless QEMU completed it (then the VM
// should run at the destination and nothing is touched; `force`, after the operator checked that
// it does not, resumes it here anyway). Safe for the memory after the commit point too:
// mkd-migrate moved this host's VM to a fresh epoch before committing. Never after a post-copy
// switchover (its marker file in `run_dir` says so): the VM ran at the destination, this copy
// is stale; refused even with `force`. `what` says what was done.
Status Recover(const std::string& definition, std::chrono::milliseconds timeout, bool force,
               std::string* what, const std::string& run_dir = kRunDir);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_SOURCE_H_
