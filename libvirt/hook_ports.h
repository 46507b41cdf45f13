// What the libvirt hook (hook.h) needs from the host, as three small interfaces, so that its
// decisions are unit-tested against fakes (hook_fakes.h) in milliseconds: where VM definitions
// come from (vm_dir_definitions.h), what memfs says about a mount and a RAM file
// (mounted_memfs.h), and making directories (host_directories.h). Interfaces only.
#ifndef MKD_LIBVIRT_HOOK_PORTS_H_
#define MKD_LIBVIRT_HOOK_PORTS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "base/status.h"
#include "base/uuid.h"
#include "qemu-config/vm_definition.h"

namespace mkd::libvirt {

// This host's VM definitions.
class Definitions {
 public:
  virtual ~Definitions() = default;
  // The definition of VM `uuid`; nullopt when this host has none. An error when one exists but
  // cannot be read, is invalid, or is of another UUID.
  virtual Result<std::optional<qemuconfig::VmDefinition>> Find(const Uuid& uuid) = 0;
  // Where the definition of `uuid` is or would be, for messages.
  virtual std::string PathOf(const Uuid& uuid) const = 0;
};

// mkd-memfs as seen through its mount (memfs-protocol's user.mkd.summary); read-only.
class Memfs {
 public:
  virtual ~Memfs() = default;
  // OK when `dir` is the root of a mounted mkd-memfs; otherwise an error saying what it is and
  // what to do (mount mkd-memfs there).
  virtual Status CheckMount(const std::string& dir) = 0;
  // The state of the RAM file at `path` ("live", "incoming", "stored": memfs-protocol's
  // BlockSummary::state); nullopt when there is no such file.
  virtual Result<std::optional<std::string>> RamFileState(const std::string& path) = 0;
  // Whether an arrival is pending on the VM directory `dir` (mkd-migrate set it; the destination
  // QEMU, running as the VM user, may then open a stored RAM file); false when `dir` is missing.
  virtual Result<bool> ArrivalPending(const std::string& dir) = 0;
};

// Who owns a directory made for QEMU: names (or numeric ids) as the hook's options give them.
struct DirectoryOwner {
  std::string user;
  std::string group;
  uint32_t mode = 0750;
  bool operator==(const DirectoryOwner&) const = default;
};

class Directories {
 public:
  virtual ~Directories() = default;
  // Makes directory `path` when it is missing. With `parents`, missing parents first (root's,
  // mode 0755); without, its parent must exist. With `owner`, `path` (new or existing, never
  // through a symlink) gets that owner, group and mode; without, it is made with mode 0700 and
  // an existing one is left as it is (memfs decides who owns a VM directory on its mount).
  virtual Status Ensure(const std::string& path, bool parents,
                        const std::optional<DirectoryOwner>& owner) = 0;
};

}  // namespace mkd::libvirt

#endif  // MKD_LIBVIRT_HOOK_PORTS_H_
