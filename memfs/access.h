// Access: who may do what on the mount (docs/security.md). The kernel enforces owners and modes
// (the mount uses default_permissions; Registry reports the owners and modes AccessPolicy
// decides); this module is the daemon's own check of the caller of every request that reads or
// changes guest memory or controls a migration, so that a mode mistake is not a hole.
//
// Three kinds of caller, from the request's uid, gid and supplementary groups:
//   - control: uid 0, or a member of the admin group (--admin-group). May use every
//     user.mkd.* attribute, mkdir/rmdir/unlink, read RAM files (mkd-migrate sends pages).
//   - VM user: the uid QEMU runs as (--vm-user, default root). May create, open, read, write and
//     size RAM files and read their inspection attributes; no control attribute.
//   - anyone else: may read the root directory's user.mkd.summary (host totals) and list the
//     root directory (VM UUIDs); nothing of a VM.
//
// Pure logic over plain values: unit-tested without FUSE (access_test.cc). Thread-safe (const).
#ifndef MKD_MEMFS_ACCESS_H_
#define MKD_MEMFS_ACCESS_H_

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace mkd::memfs {

// What a request needs.
enum class Need {
  kHostInspect,  // the root's summary, listing the root: anyone
  kInspect,      // a VM's attributes (tables, digests, summaries), reading its RAM files
  kVmWrite,      // creating, opening for writing, sizing a RAM file (QEMU)
  kControl,      // control attributes, arrivals, syncs, mkdir/rmdir/unlink
};

// The caller of one request. `groups` is asked for only when it matters (reading a process's
// supplementary groups costs a /proc read), so it is a function.
struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  std::function<std::vector<gid_t>()> groups;
};

// Owners and modes the kernel checks, and who is who. Value type.
struct AccessPolicy {
  uid_t vm_uid = 0;                // QEMU's user (libvirt's qemu.conf `user`)
  gid_t vm_gid = 0;                // QEMU's group (qemu.conf `group`)
  std::optional<gid_t> admin_gid;  // members may control (mkd-migrate, operators)

  // The group that owns VM directories and RAM files: the admin group when there is one (so
  // that its members pass the kernel's check), else QEMU's group.
  gid_t file_gid() const { return admin_gid ? *admin_gid : vm_gid; }
  // Modes reported to the kernel. Group bits only for an admin group.
  mode_t root_mode() const { return admin_gid ? 0775 : 0755; }
  mode_t vm_dir_mode() const { return admin_gid ? 0770 : 0700; }
  // A live or incoming RAM file, a stored one with an arrival pending (the destination QEMU
  // must open it), and a stored one otherwise (read-only: a cold boot over it is root's).
  mode_t file_mode(bool writable) const {
    if (writable) return admin_gid ? 0660 : 0600;
    return admin_gid ? 0440 : 0400;
  }

  // OK, or PermissionDenied with a message naming the caller and what it lacks.
  Status Check(const Caller& caller, Need need, std::string_view what) const;
};

// Resolves --vm-user, --vm-group and --admin-group (names or numeric ids; admin group empty =
// none). InvalidArgument for a name this host does not know.
Result<AccessPolicy> ResolveAccessPolicy(const std::string& vm_user, const std::string& vm_group,
                                         const std::string& admin_group);

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_ACCESS_H_
