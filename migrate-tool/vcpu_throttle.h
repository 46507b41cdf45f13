// VcpuThrottle: takes a share of the CPU time of QEMU's vCPU threads away while a pre-copy
// migration cannot keep up with the guest's writes (throttle_policy.h decides how much), with the
// cgroup v1 `cpu` controller (CFS bandwidth: cpu.cfs_quota_us per cpu.cfs_period_us).
//
// Create() makes one cgroup, <cpu hierarchy>/<parent of the first thread's cpu cgroup>/<name>,
// and moves the threads into it (one write of the tid to its `tasks` file each); Set() writes
// its quota; Restore() moves every thread back to the cpu cgroup it came from and removes the
// group. With libvirt the threads' own cgroups are vcpuN, so the group lands beside them in the
// VM's scope, under the same parent limits. While they are in the group the threads also leave
// any controller co-mounted with cpu (cpuacct on systemd hosts), so per-vCPU cpuacct figures of
// that time are counted in the group instead.
//
// It touches only: the files under ThrottleFs::cgroup_root/<cpu hierarchy> named above (the
// group directory, its tasks, cpu.cfs_period_us, cpu.cfs_quota_us, cpu.stat, and the `tasks`
// files of the threads' original cgroups) and, read-only, <proc_root>/<pid>/task/<tid>/cgroup.
// Needs root (writing `tasks` and mkdir in the cgroup fs).
//
// Limitation: cgroup v2 (unified hierarchy, cpu.max) is not supported; Create() says so.
//
// Owns the group: move-only; the destructor restores (errors logged with spdlog::warn).
// Thread-compatible: one thread at a time.
#ifndef MKD_MIGRATE_TOOL_VCPU_THROTTLE_H_
#define MKD_MIGRATE_TOOL_VCPU_THROTTLE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace mkd::migrate {

// Where the cgroup fs and /proc are (tests use a temp dir that mimics the files).
struct ThrottleFs {
  std::string cgroup_root = "/sys/fs/cgroup";
  std::string proc_root = "/proc";
};

inline constexpr uint64_t kThrottlePeriodUs = 100'000;  // written to cpu.cfs_period_us
inline constexpr size_t kMaxThrottledThreads = 1024;    // as many as QEMU has vCPUs at most

// The cpu cgroup in the text of /proc/<pid>/task/<tid>/cgroup: the path on the line whose
// controller list contains "cpu" as a whole word ("3:cpu,cpuacct:/a/b" -> "/a/b", "1:cpu:/" ->
// "/"). kNotFound when no line names cpu (a cgroup v2-only host: "0::/..."); kCorrupt for a
// malformed line, a second cpu line, or a path that is not absolute and normal (no "." or ".."
// components, no empty ones), which could point outside the hierarchy.
Result<std::string> ParseCpuCgroup(std::string_view proc_cgroup);

// "throttled_time" (ns) in the text of a cpu.stat file; nullopt when absent or not a number.
std::optional<uint64_t> ParseThrottledNs(std::string_view cpu_stat);

// After an mkd-migrate that was killed while it throttled (its destructor never ran): moves every
// thread of process `pid` that sits in a cpu cgroup named `name` to the cpu cgroup of the
// process's main thread (never throttled: where QEMU's threads started) and removes that group.
// *what says what was done ("" when there was nothing). `mkd-migrate recover` calls it.
Status ReleaseLeftoverThrottle(const ThrottleFs& fs, const std::string& name, int pid,
                               std::string* what);

class VcpuThrottle {
 public:
  // Creates the group and moves `tids` (the vCPU threads of QEMU's process `pid`; each must be a
  // task of pid, i.e. <proc_root>/<pid>/task/<tid> exists) into it, unthrottled (quota -1,
  // period kThrottlePeriodUs). Remembers each thread's original cpu cgroup. `name`, e.g.
  // "mkd-throttle-<vm uuid>", is one path component: no '/', no "..".
  // Errors: kInvalidArgument for a bad name, pid or tid list (empty, > kMaxThrottledThreads,
  // duplicates); kUnsupported when there is no cgroup v1 cpu hierarchy (saying so for a cgroup
  // v2-only host); kNotFound for a thread that is not (or no longer) a task of pid;
  // kFailedPrecondition when the group exists and holds threads (left by an interrupted run:
  // the message says how to clean up); kPermissionDenied when not root; kIo otherwise. On error
  // nothing is left behind (threads moved so far are moved back).
  static Result<VcpuThrottle> Create(const ThrottleFs& fs, const std::string& name, int pid,
                                     std::vector<int> tids);

  VcpuThrottle(VcpuThrottle&& other) noexcept;
  VcpuThrottle& operator=(VcpuThrottle&& other) noexcept;  // restores what this held first
  VcpuThrottle(const VcpuThrottle&) = delete;
  VcpuThrottle& operator=(const VcpuThrottle&) = delete;
  ~VcpuThrottle();

  // Takes `percent` (0..99) of the threads' CPU time away: quota = (100 - percent)% of the
  // period times the number of threads; 0 removes the limit (quota -1). kInvalidArgument above
  // 99; kFailedPrecondition after Restore(); kIo when the kernel refuses the quota (EINVAL: a
  // parent cgroup's quota is lower). percent() is unchanged on error.
  Status Set(uint32_t percent);
  uint32_t percent() const { return percent_; }

  // Seconds the group was throttled so far (cpu.stat throttled_time; 0 if unreadable). After
  // Restore(), the last value read before the group was removed.
  double ThrottledSeconds() const;

  // Lifts the limit, moves every thread back to its original cgroup (one that exited meanwhile
  // is skipped; when the original cgroup is gone, the thread goes to the group's parent, with a
  // warning) and removes the group. Idempotent: after success it does nothing; after an error
  // (kIo, kPermissionDenied, or kFailedPrecondition when the group still holds threads) a later
  // call retries what is left.
  Status Restore();

  // The group's directory, e.g. "/sys/fs/cgroup/cpu/machine.slice/mkd-throttle-<uuid>".
  const std::string& group_dir() const { return group_dir_; }

 private:
  struct Thread {
    int tid = 0;
    std::string original;   // cpu cgroup path from /proc, e.g. "/a/b" or "/"
    bool in_group = false;  // moved into the group and not back yet
  };

  VcpuThrottle() = default;
  // Restore(), with an error logged: for the destructor and move assignment.
  void Release();
  // Writes the quota for `percent` to cpu.cfs_quota_us.
  Status WriteQuota(uint32_t percent);
  // Moves `t` back (to its original cgroup, else the group's parent).
  Status MoveBack(Thread& t);
  Status RemoveGroup();
  std::optional<uint64_t> ReadThrottledNs() const;

  std::string hierarchy_;   // e.g. "/sys/fs/cgroup/cpu"
  std::string parent_dir_;  // the group's parent directory
  std::string group_dir_;
  std::vector<Thread> threads_;
  uint32_t percent_ = 0;
  bool active_ = false;  // the group exists or may still hold threads
  uint64_t last_throttled_ns_ = 0;
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_VCPU_THROTTLE_H_
