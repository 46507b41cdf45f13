// Installing the libvirt QEMU hook: <hooks-dir>/qemu (default /etc/libvirt/hooks/qemu), a
// two-line sh script that execs this mkd-libvirt with `hook` and the options. Never replaces a
// hook it did not write unless forced, and then keeps the old one beside it. Writes only in the
// hooks directory (which it creates when missing, its parent must exist). Thread-compatible.
#ifndef MKD_LIBVIRT_INSTALL_HOOKS_H_
#define MKD_LIBVIRT_INSTALL_HOOKS_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "base/status.h"

namespace mkd::libvirt {

inline constexpr char kDefaultHooksDir[] = "/etc/libvirt/hooks";
// A hook script is a few hundred bytes; a longer file at the hook's path is read this far.
inline constexpr size_t kMaxHookScriptSize = 64 * 1024;

// The options the installed hook passes to `mkd-libvirt hook`.
struct HookScriptOptions {
  std::string vm_dir;
  std::string vm_user;
  std::string vm_group;
};

// "#!/bin/sh\nexec <executable> hook --vm-dir D --vm-user U --vm-group G -- \"$@\"\n",
// every value shell-quoted.
std::string HookScript(const std::string& executable, const HookScriptOptions& options);

// The absolute path of the running program (/proc/self/exe). FailedPrecondition when the file
// was deleted or replaced since it started (a hook must not exec a path that is gone).
Result<std::string> RunningExecutable();

enum class HookInstall {
  kInstalled,  // there was no hook
  kUnchanged,  // the hook was already exactly this script
  kReplaced,   // --force replaced another hook, kept as <hooks-dir>/qemu.replaced-by-mkd-libvirt
};

// Writes `script` to <hooks_dir>/qemu (mode 0755, atomically: a temporary file renamed over it).
// FailedPrecondition, saying to look at it or pass --force, when another hook is there and
// `force` is false; a directory or other non-regular file there is never replaced.
Result<HookInstall> InstallHook(const std::string& hooks_dir, const std::string& script,
                                bool force);

inline constexpr char kKvmDevice[] = "/dev/kvm";

// What install-hooks warns about when QEMU's user (`uid`, its groups `gids`: primary and
// supplementary) may not both read and write the KVM device whose stat is `kvm`, by its mode and
// owner: libvirt, probing QEMU as root, finds KVM, then checks it as QEMU's user and does not,
// takes its capability cache for stale and probes QEMU again on every call (4 s each;
// docs/libvirt.md, "Setting up a host"). "" when QEMU's user may (or is root). Pure.
std::string KvmAccessWarning(const struct stat& kvm, uid_t uid, const std::vector<gid_t>& gids);
// The same for the device at `path` and the user `uid` with its primary group `gid` and the
// supplementary groups the user database gives it; "" when `path` does not exist.
std::string KvmAccessWarningFor(const std::string& path, uid_t uid, gid_t gid);

}  // namespace mkd::libvirt

#endif  // MKD_LIBVIRT_INSTALL_HOOKS_H_
