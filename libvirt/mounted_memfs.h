// MountedMemfs: the hook's Memfs (hook_ports.h) through a real mount: reads user.mkd.summary
// (names and parsers from memfs-protocol/, as mkd-migrate's RamFile::Summary) with getxattr on
// the path, never opening the RAM file (an open for writing would change its state). Reads
// extended attributes only. Stateless; thread-safe.
#ifndef MKD_LIBVIRT_MOUNTED_MEMFS_H_
#define MKD_LIBVIRT_MOUNTED_MEMFS_H_

#include <optional>
#include <string>

#include "libvirt/hook_ports.h"

namespace mkd::libvirt {

class MountedMemfs final : public Memfs {
 public:
  // OK when `dir` answers a host summary (the root of a mkd-memfs mount).
  Status CheckMount(const std::string& dir) override;
  // The `state` of the file's block summary; nullopt when the file does not exist; an error when
  // it has no summary (not on mkd-memfs) or the summary does not parse.
  Result<std::optional<std::string>> RamFileState(const std::string& path) override;
  // From the VM directory's summary (its arrival=); false when the directory does not exist; an
  // error when it has no summary or the summary does not parse.
  Result<bool> ArrivalPending(const std::string& dir) override;
};

}  // namespace mkd::libvirt

#endif  // MKD_LIBVIRT_MOUNTED_MEMFS_H_
