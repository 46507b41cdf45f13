// HostDirectories: the hook's Directories (hook_ports.h) on this host's file systems: mkdir,
// and for QEMU's directories fchown/fchmod through a descriptor opened with O_NOFOLLOW (a
// symlink planted in place of a run directory never gives its target to the VM user). Also
// resolves the VM user and group for it and for install-hooks. Changes only the directories it
// is asked for and the parents it creates. Stateless; thread-safe.
#ifndef MKD_LIBVIRT_HOST_DIRECTORIES_H_
#define MKD_LIBVIRT_HOST_DIRECTORIES_H_

#include <sys/types.h>

#include <optional>
#include <string>

#include "libvirt/hook_ports.h"

namespace mkd::libvirt {

struct OwnerIds {
  uid_t uid = 0;
  gid_t gid = 0;
};

// The ids of a user and a group given by name or as decimal ids; NotFound naming the option
// (--vm-user, --vm-group) when there is no such user or group.
Result<OwnerIds> ResolveOwner(const std::string& user, const std::string& group);

class HostDirectories final : public Directories {
 public:
  // Parents made here get mode 0755 whatever the umask (QEMU's user must traverse them).
  Status Ensure(const std::string& path, bool parents,
                const std::optional<DirectoryOwner>& owner) override;
};

}  // namespace mkd::libvirt

#endif  // MKD_LIBVIRT_HOST_DIRECTORIES_H_
