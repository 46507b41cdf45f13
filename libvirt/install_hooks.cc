// Writing <hooks-dir>/qemu: the script, comparing with what is there, the atomic replacement.
// Touches the hooks directory only (and reads /proc/self/exe).
#include "libvirt/install_hooks.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "qemu-config/command_line.h"

namespace mkd::libvirt {
namespace {

constexpr char kHookName[] = "qemu";
constexpr char kBackupName[] = "qemu.replaced-by-mkd-libvirt";

std::string Errno(int err) { return std::strerror(err); }

// The first kMaxHookScriptSize + 1 bytes of `path`.
Result<std::string> ReadHead(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Io("cannot read " + path);
  std::string text(kMaxHookScriptSize + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

Status WriteAll(int fd, const std::string& text, const std::string& path) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::Io("cannot write " + path + ": " + Errno(errno));
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Writes `text` to `path` through a temporary file in the same directory, mode 0755.
Status WriteAtomically(const std::string& path, const std::string& text) {
  const std::string temp = path + ".mkd-libvirt-new";
  ::unlink(temp.c_str());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700);
  if (fd < 0) return Status::Io("cannot create " + temp + ": " + Errno(errno));
  Status status = WriteAll(fd, text, temp);
  if (status.ok() && ::fchmod(fd, 0755) != 0) {
    status = Status::Io("cannot make " + temp + " mode 0755: " + Errno(errno));
  }
  if (status.ok() && ::fsync(fd) != 0) status = Status::Io("fsync " + temp + ": " + Errno(errno));
  ::close(fd);
  if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    status = Status::Io("cannot rename " + temp + " to " + path + ": " + Errno(errno));
  }
  if (!status.ok()) ::unlink(temp.c_str());
  return status;
}

}  // namespace

std::string HookScript(const std::string& executable, const HookScriptOptions& options) {
  return "#!/bin/sh\nexec " +
         qemuconfig::ShellQuote({executable, "hook", "--vm-dir", options.vm_dir, "--vm-user",
                                 options.vm_user, "--vm-group", options.vm_group}) +
         " -- \"$@\"\n";
}

Result<std::string> RunningExecutable() {
  std::vector<char> buffer(4096);
  const ssize_t n = ::readlink("/proc/self/exe", buffer.data(), buffer.size());
  if (n < 0) return Status::Io(std::string("cannot read /proc/self/exe: ") + Errno(errno));
  if (static_cast<size_t>(n) == buffer.size()) {
    return Status::OutOfRange("the path of mkd-libvirt is longer than 4095 bytes");
  }
  std::string path(buffer.data(), static_cast<size_t>(n));
  if (path.ends_with(" (deleted)")) {
    return Status::FailedPrecondition(
        "this mkd-libvirt was deleted or replaced since it started; run the installed one");
  }
  return path;
}

Result<HookInstall> InstallHook(const std::string& hooks_dir, const std::string& script,
                                bool force) {
  if (::mkdir(hooks_dir.c_str(), 0755) == 0) {
    if (::chmod(hooks_dir.c_str(), 0755) != 0) {
      return Status::Io("cannot make " + hooks_dir + " mode 0755: " + Errno(errno));
    }
  } else if (errno != EEXIST) {
    return Status::Io("cannot create " + hooks_dir + ": " + Errno(errno) +
                      " (is libvirt installed? --hooks-dir says where its hooks are)");
  }
  const std::string path = hooks_dir + "/" + kHookName;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return Status::Io("cannot look at " + path + ": " + Errno(errno));
    MKD_RETURN_IF_ERROR(WriteAtomically(path, script));
    return HookInstall::kInstalled;
  }
  if (!S_ISREG(st.st_mode)) {
    return Status::FailedPrecondition(path +
                                      " exists and is not a regular file; move it away first");
  }
  MKD_ASSIGN_OR_RETURN(std::string existing, ReadHead(path));
  if (existing == script) {
    if ((st.st_mode & 07777) != 0755 && ::chmod(path.c_str(), 0755) != 0) {
      return Status::Io("cannot make " + path + " mode 0755: " + Errno(errno));
    }
    return HookInstall::kUnchanged;
  }
  if (!force) {
    return Status::FailedPrecondition(
        path +
        " exists and is another hook (not this mkd-libvirt's with these options): look "
        "at it, then pass --force to replace it (it is kept as " +
        hooks_dir + "/" + kBackupName + ")");
  }
  // The old hook stays at its path until the new one is renamed over it.
  const std::string backup = hooks_dir + "/" + kBackupName;
  ::unlink(backup.c_str());
  if (::link(path.c_str(), backup.c_str()) != 0) {
    return Status::Io("cannot keep " + path + " as " + backup + ": " + Errno(errno));
  }
  MKD_RETURN_IF_ERROR(WriteAtomically(path, script));
  return HookInstall::kReplaced;
}

std::string KvmAccessWarning(const struct stat& kvm, uid_t uid, const std::vector<gid_t>& gids) {
  if (uid == 0) return "";
  mode_t need = S_IROTH | S_IWOTH;
  if (kvm.st_uid == uid) {
    need = S_IRUSR | S_IWUSR;
  } else {
    for (gid_t g : gids) {
      if (g == kvm.st_gid) {
        need = S_IRGRP | S_IWGRP;
        break;
      }
    }
  }
  if ((kvm.st_mode & need) == need) return "";
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(kvm.st_mode & 07777));
  return "warning: QEMU's user (uid " + std::to_string(uid) + ") may not read and write " +
         std::string(kKvmDevice) + " (mode " + mode + ", owner " + std::to_string(kvm.st_uid) +
         ":" + std::to_string(kvm.st_gid) +
         "): libvirt will probe QEMU again on every call (seconds each) and its guests cannot "
         "use KVM. Give the device to QEMU's group (udev: KERNEL==\"kvm\", GROUP=\"kvm\", "
         "MODE=\"0660\"), or hide it from libvirt if its guests run on TCG (docs/libvirt.md)";
}

std::string KvmAccessWarningFor(const std::string& path, uid_t uid, gid_t gid) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  std::vector<gid_t> gids = {gid};
  if (const passwd* pw = ::getpwuid(uid); pw != nullptr) {
    int n = 64;
    std::vector<gid_t> groups(static_cast<size_t>(n));
    if (::getgrouplist(pw->pw_name, gid, groups.data(), &n) >= 0) {
      gids.assign(groups.begin(), groups.begin() + n);
    }
  }
  return KvmAccessWarning(st, uid, gids);
}

}  // namespace mkd::libvirt
