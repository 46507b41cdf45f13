// Reading user.mkd.summary of a memfs mount's root, a VM directory and a RAM file with getxattr.
// Reads extended attributes only; never opens a RAM file.
#include "libvirt/mounted_memfs.h"

#include <sys/xattr.h>

#include <cerrno>
#include <cstring>

#include "memfs-protocol/names.h"
#include "memfs-protocol/summary.h"

namespace mkd::libvirt {
namespace {

namespace mp = memfs_protocol;

// The summary of `path`, or the errno of getxattr.
struct Summary {
  std::string line;
  int error = 0;
};

Summary ReadSummary(const std::string& path) {
  Summary s;
  std::string value(mp::kSummaryValueMax, '\0');
  const std::string name(mp::kSummary);
  const ssize_t n = ::getxattr(path.c_str(), name.c_str(), value.data(), value.size());
  if (n < 0) {
    s.error = errno;
    return s;
  }
  value.resize(static_cast<size_t>(n));
  s.line = std::move(value);
  return s;
}

bool NoSummary(int error) { return error == ENODATA || error == ENOTSUP; }

}  // namespace

Status MountedMemfs::CheckMount(const std::string& dir) {
  Summary s = ReadSummary(dir);
  if (s.error == ENOENT) {
    return Status::NotFound("memory_backing.dir " + dir +
                            " does not exist: mount mkd-memfs there first");
  }
  if (NoSummary(s.error)) {
    return Status::FailedPrecondition("memory_backing.dir " + dir +
                                      " is not a mounted mkd-memfs: start mkd-memfs there first");
  }
  if (s.error != 0) {
    return Status::Io("cannot read the memfs summary of " + dir + ": " + std::strerror(s.error));
  }
  Result<mp::HostSummary> host = mp::ParseHostSummary(s.line);
  if (!host.ok()) {
    return Status::FailedPrecondition("memory_backing.dir " + dir +
                                      " is not the root of a mkd-memfs mount (" +
                                      host.status().message() + ")");
  }
  return Status::Ok();
}

Result<std::optional<std::string>> MountedMemfs::RamFileState(const std::string& path) {
  Summary s = ReadSummary(path);
  if (s.error == ENOENT) return std::optional<std::string>();
  if (NoSummary(s.error)) {
    return Status::FailedPrecondition("RAM file " + path + " is not on a mkd-memfs mount");
  }
  if (s.error != 0) {
    return Status::Io("cannot read the memfs summary of " + path + ": " + std::strerror(s.error));
  }
  Result<mp::BlockSummary> block = mp::ParseBlockSummary(s.line);
  if (!block.ok()) return block.status().WithContext(path);
  return std::optional<std::string>(block->state);
}

Result<bool> MountedMemfs::ArrivalPending(const std::string& dir) {
  Summary s = ReadSummary(dir);
  if (s.error == ENOENT) return false;
  if (NoSummary(s.error)) {
    return Status::FailedPrecondition("VM directory " + dir + " is not on a mkd-memfs mount");
  }
  if (s.error != 0) {
    return Status::Io("cannot read the memfs summary of " + dir + ": " + std::strerror(s.error));
  }
  Result<mp::VmSummary> vm = mp::ParseVmSummary(s.line);
  if (!vm.ok()) return vm.status().WithContext(dir);
  return vm->arrival.has_value();
}

}  // namespace mkd::libvirt
