// The hook's decisions: which operations it acts on, what it refuses at a migration's
// destination, and which directories it makes before a start. Touches the host only through the
// ports (hook_ports.h).
#include "libvirt/hook.h"

#include <optional>
#include <utility>

#include "libvirt/domain_facts.h"
#include "libvirt/domain_xml.h"
#include "libvirt/qemu_commandline.h"
#include "libvirt/xml_document.h"
#include "qemu-config/command_line.h"

namespace mkd::libvirt {
namespace {

using qemuconfig::MemoryBacking;
using qemuconfig::VmDefinition;
using qemuconfig::VmManager;

constexpr uint64_t kMiB = 1024 * 1024;

bool Is(const HookCall& call, std::string_view operation, std::string_view subop) {
  return call.operation == operation && call.subop == subop;
}

std::string MemoryText(uint64_t bytes) {
  return bytes % kMiB == 0 ? std::to_string(bytes / kMiB) + " MiB" : std::to_string(bytes) + " B";
}

// At a migration's destination: may this domain arrive here, and with which arguments.
Result<std::string> MigrateBegin(std::string_view xml, HookPorts& ports) {
  MKD_ASSIGN_OR_RETURN(XmlDocument doc, XmlDocument::Parse(xml, "the domain XML on stdin"));
  MKD_ASSIGN_OR_RETURN(DomainFacts facts, ReadDomainFacts(doc));
  const std::string uuid = facts.uuid.ToString();
  const std::string path = ports.definitions.PathOf(facts.uuid);
  auto refuse = [&](const std::string& why) {
    return Status::FailedPrecondition("refusing the migration of domain " + facts.name + " (" +
                                      uuid + "): " + why);
  };
  Result<std::optional<VmDefinition>> found = ports.definitions.Find(facts.uuid);
  if (!found.ok()) return refuse(found.status().message());
  if (!found->has_value()) {
    return refuse("this host has no definition of VM " + uuid + " (" + path +
                  "): a host receives no VM it was not configured for; install its definition "
                  "here first");
  }
  const VmDefinition& vm = **found;
  if (vm.manager != VmManager::kLibvirt) {
    return refuse(path + " says the VM is started by " +
                  std::string(qemuconfig::ManagerName(vm.manager)) +
                  ", not libvirt: move it with mkd-migrate, or add \"manager\": \"libvirt\"");
  }
  if (vm.name != facts.name) {
    return refuse("the domain is named " + facts.name + " but " + path + " names the VM " +
                  vm.name + "; use the same name on every host");
  }
  if (vm.memory_mib * kMiB != facts.memory_bytes) {
    return refuse("the domain has " + MemoryText(facts.memory_bytes) + " of memory but " + path +
                  " says " + std::to_string(vm.memory_mib) + " MiB; use the same size");
  }
  if (vm.backing == MemoryBacking::kMemfs) {
    Status mount = ports.memfs.CheckMount(vm.memory_dir);
    if (!mount.ok()) return refuse(mount.message());
    const std::string ram = qemuconfig::PathsFor(vm).memory_file;
    Result<std::optional<std::string>> state = ports.memfs.RamFileState(ram);
    if (!state.ok()) return refuse(state.status().message());
    if (!state->has_value() || **state != "incoming") {
      return refuse(
          "its RAM file " + ram + " is " + (state->has_value() ? **state : "missing") +
          ", not incoming: migrate it with mkd-migrate, which prepares its arrival here (a plain "
          "virsh migrate bypasses memfs: it resends the whole RAM and drops the memory stored "
          "here, or, with x-ignore-shared on, runs the VM on stale memory)");
    }
  }
  MKD_RETURN_IF_ERROR(ReplaceQemuArgs(&doc, DomainQemuArgs(vm)));
  return doc.ToString(/*indent=*/false);
}

// QEMU, as the VM user, opens the RAM file for writing. memfs lets it do that to a new file, an
// incoming one, or a stored one with an arrival pending; a stored one otherwise is the memory the
// VM left here, which only root may drop with a cold boot (docs/security.md). Saying so here
// beats QEMU's "Permission denied".
Status CheckRamFileOpenable(const qemuconfig::VmPaths& paths, Memfs& memfs) {
  Result<std::optional<std::string>> found = memfs.RamFileState(paths.memory_file);
  if (!found.ok()) return found.status();
  const std::string state = found->value_or("");  // "": no file yet
  if (state.empty() || state == "incoming") return Status::Ok();
  if (state == "live") {
    return Status::FailedPrecondition("its RAM file " + paths.memory_file +
                                      " is live: a QEMU on this host runs this VM already");
  }
  MKD_ASSIGN_OR_RETURN(bool arriving, memfs.ArrivalPending(paths.memory_dir));
  if (arriving) return Status::Ok();
  return Status::FailedPrecondition(
      "its RAM file " + paths.memory_file + " is " + state +
      ": the memory the VM left on this host, and no arrival is pending. Bring the VM here with "
      "mkd-migrate; or, if you mean a cold boot that drops that memory, remove the file first "
      "(rm " +
      paths.memory_file + ")");
}

// Before every start: the directories QEMU needs, for a VM this host defines for libvirt.
Result<std::string> PrepareBegin(std::string_view xml, const HookConfig& config, HookPorts& ports) {
  MKD_ASSIGN_OR_RETURN(XmlDocument doc, XmlDocument::Parse(xml, "the domain XML on stdin"));
  MKD_ASSIGN_OR_RETURN(DomainFacts facts, ReadDomainFacts(doc));
  Result<std::optional<VmDefinition>> found = ports.definitions.Find(facts.uuid);
  if (!found.ok()) {
    return Status::FailedPrecondition("refusing to start domain " + facts.name + ": " +
                                      found.status().message());
  }
  if (!found->has_value() || (*found)->manager != VmManager::kLibvirt) {
    return std::string();  // not a miyakodori VM of libvirt's on this host
  }
  const VmDefinition& vm = **found;
  const qemuconfig::VmPaths paths = qemuconfig::PathsFor(vm);
  const DirectoryOwner qemu{config.vm_user, config.vm_group, 0750};
  auto fail = [&](const Status& s) {
    return Status(s.code(), "refusing to start domain " + facts.name + ": " + s.message());
  };
  if (vm.backing == MemoryBacking::kMemfs) {
    // The mount point must be memfs: a plain directory there would put guest RAM on its disk.
    Status mount = ports.memfs.CheckMount(vm.memory_dir);
    if (!mount.ok()) return fail(mount);
    Status usable = CheckRamFileOpenable(paths, ports.memfs);
    if (!usable.ok()) return fail(usable);
    Status made = ports.directories.Ensure(paths.memory_dir, /*parents=*/false, std::nullopt);
    if (!made.ok()) return fail(made);
  } else {
    // tmpfs: QEMU, running as the VM user, creates the RAM file in the VM's directory.
    Status made = ports.directories.Ensure(paths.memory_dir, /*parents=*/true, qemu);
    if (!made.ok()) return fail(made);
  }
  Status made = ports.directories.Ensure(paths.run_dir, /*parents=*/true, qemu);
  if (!made.ok()) return fail(made);
  return std::string();
}

}  // namespace

bool ReadsDomainXml(const HookCall& call) {
  return Is(call, "migrate", "begin") || Is(call, "prepare", "begin");
}

Result<std::string> RunHook(const HookCall& call, std::string_view xml, const HookConfig& config,
                            HookPorts& ports) {
  if (Is(call, "migrate", "begin")) return MigrateBegin(xml, ports);
  if (Is(call, "prepare", "begin")) return PrepareBegin(xml, config, ports);
  return std::string();
}

}  // namespace mkd::libvirt
