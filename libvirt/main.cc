// mkd-libvirt: runs miyakodori VMs under libvirt (docs/libvirt.md). Thin: parses the command
// line (a table of three subcommands), reads stdin for the hook, calls domain_xml.h, hook.h and
// install_hooks.h with the real ports, and prints one line per error. Touches what those do.
#include <fmt/core.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <string>

#include "libvirt/domain_xml.h"
#include "libvirt/hook.h"
#include "libvirt/host_directories.h"
#include "libvirt/install_hooks.h"
#include "libvirt/mounted_memfs.h"
#include "libvirt/vm_dir_definitions.h"
#include "libvirt/xml_document.h"
#include "qemu-config/vm_definition.h"

namespace {

namespace lv = mkd::libvirt;

int Fail(const std::string& command, const std::string& message) {
  fmt::print(stderr, "mkd-libvirt {}: {}\n", command, message);
  return 1;
}

// Stdin up to kMaxXmlSize bytes; an error when there is more.
mkd::Result<std::string> ReadStdin() {
  std::string text;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return mkd::Status::Io("cannot read the domain XML on stdin");
    if (n == 0) return text;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > lv::kMaxXmlSize) {
      return mkd::Status::OutOfRange(
          "the domain XML on stdin is larger than 1 MiB; a libvirt domain XML is a few KiB");
    }
  }
}

int DomainXml(const std::string& definition, const std::string& accel) {
  mkd::Result<mkd::qemuconfig::VmDefinition> vm = mkd::qemuconfig::LoadVmDefinition(definition);
  if (!vm.ok()) return Fail("domain-xml", vm.status().message());
  mkd::Result<std::string> xml =
      lv::BuildDomainXml(*vm, accel == "tcg" ? lv::Accel::kTcg : lv::Accel::kKvm);
  if (!xml.ok()) return Fail("domain-xml", xml.status().message());
  fmt::print("{}", *xml);
  return 0;
}

int Hook(const lv::HookCall& call, const std::string& vm_dir, const lv::HookConfig& config) {
  const std::string command = "hook " + call.operation + " " + call.subop;
  if (!lv::ReadsDomainXml(call)) return 0;
  mkd::Result<std::string> xml = ReadStdin();
  if (!xml.ok()) return Fail(command, xml.status().message());
  lv::VmDirDefinitions definitions(vm_dir);
  lv::MountedMemfs memfs;
  lv::HostDirectories directories;
  lv::HookPorts ports{definitions, memfs, directories};
  mkd::Result<std::string> out = lv::RunHook(call, *xml, config, ports);
  if (!out.ok()) return Fail(command, out.status().message());
  fmt::print("{}", *out);
  return 0;
}

int InstallHooks(const std::string& hooks_dir, const lv::HookScriptOptions& options, bool force) {
  if (options.vm_dir.empty() || options.vm_dir.front() != '/') {
    return Fail("install-hooks", "--vm-dir " + options.vm_dir + " must be an absolute path");
  }
  mkd::Result<lv::OwnerIds> owner = lv::ResolveOwner(options.vm_user, options.vm_group);
  if (!owner.ok()) return Fail("install-hooks", owner.status().message());
  mkd::Result<std::string> exe = lv::RunningExecutable();
  if (!exe.ok()) return Fail("install-hooks", exe.status().message());
  const std::string script = lv::HookScript(*exe, options);
  if (const std::string kvm = lv::KvmAccessWarningFor(lv::kKvmDevice, owner->uid, owner->gid);
      !kvm.empty()) {
    fmt::print(stderr, "mkd-libvirt install-hooks: {}\n", kvm);
  }
  mkd::Result<lv::HookInstall> done = lv::InstallHook(hooks_dir, script, force);
  if (!done.ok()) return Fail("install-hooks", done.status().message());
  const std::string path = hooks_dir + "/qemu";
  switch (*done) {
    case lv::HookInstall::kUnchanged:
      fmt::print("{} already runs {} hook with these options; nothing changed\n", path, *exe);
      return 0;
    case lv::HookInstall::kReplaced:
      fmt::print("{} replaced (the old hook is {}/qemu.replaced-by-mkd-libvirt); ", path,
                 hooks_dir);
      break;
    case lv::HookInstall::kInstalled:
      fmt::print("{} installed; ", path);
      break;
  }
  fmt::print(
      "it runs {} hook. libvirtd reads its hooks when it starts: restart it now "
      "(systemctl restart libvirtd)\n",
      *exe);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "mkd-libvirt: run miyakodori VMs (RAM in <memory_dir>/<uuid>/ram on mkd-memfs) as libvirt\n"
      "domains: their domain XML, the libvirt QEMU hook, and its installation. See "
      "docs/libvirt.md."};
  app.require_subcommand(1);

  std::string definition;
  std::string accel = "kvm";
  CLI::App* xml_cmd = app.add_subcommand(
      "domain-xml", "print the libvirt domain XML of a VM definition (for virsh define)");
  xml_cmd
      ->add_option("definition", definition,
                   "VM definition file (JSON) with \"manager\": "
                   "\"libvirt\"")
      ->required();
  xml_cmd->add_option("--accel", accel, "kvm (<domain type='kvm'>) or tcg (type='qemu')")
      ->check(CLI::IsMember({"kvm", "tcg"}))
      ->capture_default_str();

  std::string vm_dir = lv::kDefaultVmDir;
  lv::HookConfig config;
  auto add_vm_options = [&](CLI::App* cmd) {
    cmd->add_option("--vm-dir", vm_dir, "directory of this host's VM definitions, <uuid>.json")
        ->capture_default_str();
    cmd->add_option("--vm-user", config.vm_user, "the user QEMU runs as (qemu.conf's user)")
        ->capture_default_str();
    cmd->add_option("--vm-group", config.vm_group, "QEMU's group (qemu.conf's group)")
        ->capture_default_str();
  };

  lv::HookCall call;
  CLI::App* hook_cmd = app.add_subcommand(
      "hook", "the libvirt QEMU hook: libvirtd runs it with the domain XML on stdin");
  hook_cmd->footer(
      "migrate begin: refuses a VM this host has no libvirt definition of (<vm-dir>/<uuid>.json),\n"
      "  whose name or memory differ from it, or, on memfs, whose RAM file is not incoming (only\n"
      "  an mkd-migrate arrival may bring it); prints the XML with this host's paths.\n"
      "prepare begin: makes <memory_dir>/<uuid>/ and <run_dir>/<uuid>/ (for --vm-user).\n"
      "Anything else: nothing. A refusal exits 1 with one line saying why.");
  add_vm_options(hook_cmd);
  hook_cmd->add_option("domain", call.domain, "the domain's name")->required();
  hook_cmd->add_option("operation", call.operation, "prepare, start, migrate, ...")->required();
  hook_cmd->add_option("subop", call.subop, "begin, end, ...")->required();
  hook_cmd->add_option("extra", call.extra, "libvirt's extra argument (usually -)")->required();

  std::string hooks_dir = lv::kDefaultHooksDir;
  bool force = false;
  CLI::App* install_cmd = app.add_subcommand(
      "install-hooks",
      "write <hooks-dir>/qemu, a script that runs this mkd-libvirt's hook with these options");
  install_cmd->add_option("--hooks-dir", hooks_dir, "libvirt's hooks directory")
      ->capture_default_str();
  add_vm_options(install_cmd);
  install_cmd->add_flag("--force", force,
                        "replace another hook (it is kept as qemu.replaced-by-mkd-libvirt)");

  CLI11_PARSE(app, argc, argv);

  if (*xml_cmd) return DomainXml(definition, accel);
  if (*hook_cmd) return Hook(call, vm_dir, config);
  return InstallHooks(hooks_dir, {vm_dir, config.vm_user, config.vm_group}, force);
}
