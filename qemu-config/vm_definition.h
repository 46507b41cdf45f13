// VmDefinition: what an operator writes to describe a VM for mkd-vm (docs/qemu-config.md), and
// the strict parser for it. A definition is a small JSON file; every field is checked (types,
// ranges, absolute paths, UUID) before anything is started, so a typo is an error with the field's
// name, never a QEMU that starts with something else. Value types; thread-safe functions.
#ifndef MKD_QEMU_CONFIG_VM_DEFINITION_H_
#define MKD_QEMU_CONFIG_VM_DEFINITION_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/uuid.h"

namespace mkd::qemuconfig {

// Where guest RAM lives: a file <dir>/<uuid>/ram, MAP_SHARED by QEMU.
enum class MemoryBacking {
  kMemfs,  // dir is a mounted mkd-memfs: migrations reuse memory (the product)
  kTmpfs,  // dir is on tmpfs: plain QEMU, the baseline for every comparison
};

enum class NetworkType { kNone, kUser, kTap };

// Who starts and stops the VM's QEMU: mkd-vm (and serve, for an arriving VM), or libvirt, whose
// domain of the same name and UUID carries MkdQemuArgs in <qemu:commandline> (mkd-libvirt,
// docs/qemu-config.md "With libvirt").
enum class VmManager { kMkdVm, kLibvirt };

struct VmDefinition {
  Uuid uuid;
  std::string name;            // QEMU -name; defaults to the UUID
  uint64_t memory_mib = 0;     // 16 .. 1 TiB
  uint32_t vcpus = 1;          // 1 .. 64
  std::string machine = "pc";  // QEMU machine type
  // Boot: either kernel (+ optional initrd and append) or disk.
  std::string kernel;
  std::string initrd;
  std::string append;
  std::string disk;
  MemoryBacking backing = MemoryBacking::kTmpfs;
  std::string memory_dir;  // <memory_dir>/<uuid>/ram
  NetworkType network = NetworkType::kNone;
  std::string tap_ifname;                       // for kTap
  std::string mac;                              // optional, for kUser/kTap
  std::string run_dir = "/run/miyakodori/vms";  // <run_dir>/<uuid>/{qmp.sock,serial.log,...}
  std::vector<std::string> extra_args;          // appended verbatim to the QEMU command line
  VmManager manager = VmManager::kMkdVm;
};

inline constexpr size_t kMaxDefinitionSize = 64 * 1024;

// Parses and checks a definition. Relative paths are refused (a definition is used from several
// working directories); unknown fields are refused (they are usually typos).
Result<VmDefinition> ParseVmDefinition(std::string_view json);
// Reads and parses the file at `path`; errors name the file.
Result<VmDefinition> LoadVmDefinition(const std::string& path);

std::string_view MemoryBackingName(MemoryBacking backing);  // "memfs", "tmpfs"
std::string_view ManagerName(VmManager manager);             // "mkd-vm", "libvirt"

}  // namespace mkd::qemuconfig

#endif  // MKD_QEMU_CONFIG_VM_DEFINITION_H_
