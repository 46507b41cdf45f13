// Finding a VM's definition file by its UUID. Reads that file only.
#include "libvirt/vm_dir_definitions.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace mkd::libvirt {

std::string VmDirDefinitions::PathOf(const Uuid& uuid) const {
  return dir_ + "/" + uuid.ToString() + ".json";
}

Result<std::optional<qemuconfig::VmDefinition>> VmDirDefinitions::Find(const Uuid& uuid) {
  const std::string path = PathOf(uuid);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<qemuconfig::VmDefinition>();
    return Status::Io("cannot read VM definition " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return Status::FailedPrecondition("VM definition " + path + " is not a regular file");
  }
  MKD_ASSIGN_OR_RETURN(qemuconfig::VmDefinition vm, qemuconfig::LoadVmDefinition(path));
  if (vm.uuid != uuid) {
    return Status::FailedPrecondition("VM definition " + path + " is of VM " + vm.uuid.ToString() +
                                      "; rename it to " + vm.uuid.ToString() + ".json");
  }
  return std::optional<qemuconfig::VmDefinition>(std::move(vm));
}

}  // namespace mkd::libvirt
