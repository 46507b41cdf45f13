// Dirty-page limits of the mount's backing device (BDI). The kernel throttles a process that
// dirties pages of a FUSE file once the file system's share of dirty memory is used up (FUSE
// mounts get max_ratio=1 % and a strict limit); a guest that writes fast would wait for our
// write-back. mkd-memfs sets the limits it was told to at mount (docs/memfs.md has the
// measurement that chose the defaults). Linux-only; errors are values.
#ifndef MKD_MEMFS_BDI_H_
#define MKD_MEMFS_BDI_H_

#include <optional>
#include <string>

#include "base/status.h"

namespace mkd::memfs {

struct BdiLimits {
  std::optional<int> max_ratio;     // percent of the dirty threshold this mount may use
  std::optional<int> strict_limit;  // 1: never above its own share even when others are idle
};

// The sysfs directory of the BDI behind the mount at `mountpoint`
// (/sys/class/bdi/<major>:<minor>), found without touching the mount itself.
Result<std::string> BdiDirOf(const std::string& mountpoint);
// Writes the given limits; returns the values in effect afterwards, e.g.
// "max_ratio=100 strict_limit=0".
Result<std::string> ApplyBdiLimits(const std::string& mountpoint, const BdiLimits& limits);

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_BDI_H_
