// Building a domain XML from a VM definition with libxml2's tree (so every value is escaped).
// Touches memory only.
#include "libvirt/domain_xml.h"

#include "libvirt/qemu_commandline.h"
#include "libvirt/xml_document.h"
#include "qemu-config/command_line.h"

namespace mkd::libvirt {

using qemuconfig::NetworkType;
using qemuconfig::VmDefinition;
using qemuconfig::VmManager;

std::vector<std::string> DomainQemuArgs(const VmDefinition& vm) {
  std::vector<std::string> args = qemuconfig::MkdQemuArgs(vm);
  args.insert(args.end(), vm.extra_args.begin(), vm.extra_args.end());
  return args;
}

Result<std::string> BuildDomainXml(const VmDefinition& vm, Accel accel) {
  if (vm.manager != VmManager::kLibvirt) {
    return Status::FailedPrecondition(
        "VM " + vm.name + " is started by " + std::string(qemuconfig::ManagerName(vm.manager)) +
        ", not libvirt: add \"manager\": \"libvirt\" to its definition first");
  }
  if (vm.network != NetworkType::kNone) {
    return Status::FailedPrecondition(
        "VM " + vm.name +
        " has a network; mkd-libvirt supports only \"network\": {\"type\": \"none\"} for now "
        "(add the interface to the domain with virsh edit at your own risk)");
  }
  XmlDocument doc = XmlDocument::WithRoot("domain");
  xmlNode* domain = doc.root();
  SetAttribute(domain, "type", accel == Accel::kKvm ? "kvm" : "qemu");
  xmlNs* qemu = xmlNewNs(domain, reinterpret_cast<const xmlChar*>(kQemuNamespace),
                         reinterpret_cast<const xmlChar*>("qemu"));
  AppendElement(domain, nullptr, "name", vm.name);
  AppendElement(domain, nullptr, "uuid", vm.uuid.ToString());
  SetAttribute(AppendElement(domain, nullptr, "memory", std::to_string(vm.memory_mib)), "unit",
               "MiB");
  AppendElement(domain, nullptr, "vcpu", std::to_string(vm.vcpus));

  xmlNode* os = AppendElement(domain, nullptr, "os", "");
  xmlNode* type = AppendElement(os, nullptr, "type", "hvm");
  SetAttribute(type, "arch", "x86_64");
  SetAttribute(type, "machine", vm.machine);
  if (!vm.kernel.empty()) {
    AppendElement(os, nullptr, "kernel", vm.kernel);
    if (!vm.initrd.empty()) AppendElement(os, nullptr, "initrd", vm.initrd);
    if (!vm.append.empty()) AppendElement(os, nullptr, "cmdline", vm.append);
  } else {
    SetAttribute(AppendElement(os, nullptr, "boot", ""), "dev", "hd");
  }

  xmlNode* devices = AppendElement(domain, nullptr, "devices", "");
  if (vm.kernel.empty()) {
    // As mkd-vm's -drive: virtio, no host cache (migration needs shared storage), qcow2 by name.
    const bool qcow2 = vm.disk.size() > 6 && vm.disk.ends_with(".qcow2");
    xmlNode* disk = AppendElement(devices, nullptr, "disk", "");
    SetAttribute(disk, "type", "file");
    SetAttribute(disk, "device", "disk");
    xmlNode* driver = AppendElement(disk, nullptr, "driver", "");
    SetAttribute(driver, "name", "qemu");
    SetAttribute(driver, "type", qcow2 ? "qcow2" : "raw");
    SetAttribute(driver, "cache", "none");
    SetAttribute(AppendElement(disk, nullptr, "source", ""), "file", vm.disk);
    xmlNode* target = AppendElement(disk, nullptr, "target", "");
    SetAttribute(target, "dev", "vda");
    SetAttribute(target, "bus", "virtio");
  }
  SetAttribute(AppendElement(devices, nullptr, "memballoon", ""), "model", "none");

  xmlNode* commandline = AppendElement(domain, qemu, "commandline", "");
  for (const std::string& arg : DomainQemuArgs(vm)) {
    SetAttribute(AppendElement(commandline, qemu, "arg", ""), "value", arg);
  }
  return doc.ToString(/*indent=*/true);
}

}  // namespace mkd::libvirt
