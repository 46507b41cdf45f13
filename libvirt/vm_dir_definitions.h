// VmDirDefinitions: the hook's Definitions (hook_ports.h) from a directory of VM definition
// files named <uuid>.json (default /etc/miyakodori/vms), root's: a host runs only VMs it holds a
// definition of. Reads those files only. Thread-compatible.
#ifndef MKD_LIBVIRT_VM_DIR_DEFINITIONS_H_
#define MKD_LIBVIRT_VM_DIR_DEFINITIONS_H_

#include <optional>
#include <string>
#include <utility>

#include "libvirt/hook_ports.h"

namespace mkd::libvirt {

inline constexpr char kDefaultVmDir[] = "/etc/miyakodori/vms";

class VmDirDefinitions final : public Definitions {
 public:
  explicit VmDirDefinitions(std::string dir) : dir_(std::move(dir)) {}

  // nullopt when <dir>/<uuid>.json does not exist; an error when it is not a regular file, cannot
  // be read, is not a valid definition, or its "uuid" is another one.
  Result<std::optional<qemuconfig::VmDefinition>> Find(const Uuid& uuid) override;
  std::string PathOf(const Uuid& uuid) const override;

 private:
  std::string dir_;
};

}  // namespace mkd::libvirt

#endif  // MKD_LIBVIRT_VM_DIR_DEFINITIONS_H_
