// The libvirt domain XML of a miyakodori VM definition (docs/libvirt.md): what `mkd-libvirt
// domain-xml` prints for `virsh define`. Name, UUID, memory and vCPUs of the definition, its
// kernel or disk, no memory balloon (it would return guest pages to the host behind memfs's
// back), and MkdQemuArgs + extra_args in <qemu:commandline>: the RAM file on memfs or tmpfs, the
// console and the QMP monitor mkd-migrate uses. Pure functions; thread-safe.
#ifndef MKD_LIBVIRT_DOMAIN_XML_H_
#define MKD_LIBVIRT_DOMAIN_XML_H_

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "qemu-config/vm_definition.h"

namespace mkd::libvirt {

// The domain's type: kvm (<domain type='kvm'>) or tcg (<domain type='qemu'>).
enum class Accel { kKvm, kTcg };

// The arguments a miyakodori VM's domain carries in <qemu:commandline> on this host:
// MkdQemuArgs(vm) followed by vm.extra_args. Both `domain-xml` and the `migrate begin` hook use
// it, so a domain defined on one host and arriving on another carry the same arguments, each
// with its own host's paths.
std::vector<std::string> DomainQemuArgs(const qemuconfig::VmDefinition& vm);

// The domain XML (UTF-8, indented). FailedPrecondition, saying what to change in the
// definition, when its manager is not libvirt or its network is not "none" (not supported yet).
Result<std::string> BuildDomainXml(const qemuconfig::VmDefinition& vm, Accel accel);

}  // namespace mkd::libvirt

#endif  // MKD_LIBVIRT_DOMAIN_XML_H_
