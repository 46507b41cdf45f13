// The libvirt QEMU hook (/etc/libvirt/hooks/qemu runs `mkd-libvirt hook DOMAIN OPERATION SUBOP
// EXTRA` with the domain XML on stdin; docs/libvirt.md): the decisions it makes for a miyakodori
// VM, against the ports of hook_ports.h.
//
//   migrate begin   (a migration's destination) refuses a VM this host has no libvirt
//                   definition of, whose name or memory differ from it, or, on memfs, whose RAM
//                   file is not incoming (only an mkd-migrate arrival may bring it); otherwise
//                   prints the XML with <qemu:commandline> made of this host's definition.
//   prepare begin   (every start) for a VM with a libvirt definition: on memfs, refuses when
//                   the memory dir is not a mkd-memfs mount or QEMU could not open the RAM file
//                   (live, or stored with no arrival pending); makes <memory_dir>/<uuid>/ and
//                   <run_dir>/<uuid>/ (the latter for QEMU's user). Other domains: nothing.
//   anything else   nothing.
//
// Touches the host only through the ports. Thread-compatible.
#ifndef MKD_LIBVIRT_HOOK_H_
#define MKD_LIBVIRT_HOOK_H_

#include <string>
#include <string_view>

#include "base/status.h"
#include "libvirt/hook_ports.h"

namespace mkd::libvirt {

// The arguments libvirtd gives the hook.
struct HookCall {
  std::string domain;     // the domain's name
  std::string operation;  // "prepare", "start", "started", "stopped", "release", "migrate", ...
  std::string subop;      // "begin", "end", ...
  std::string extra;      // "-" mostly
};

struct HookConfig {
  std::string vm_user = "libvirt-qemu";  // QEMU's user (libvirt's qemu.conf `user`)
  std::string vm_group = "kvm";          // QEMU's group (libvirt's qemu.conf `group`)
};

struct HookPorts {
  Definitions& definitions;
  Memfs& memfs;
  Directories& directories;
};

// Whether `call` reads the domain XML on stdin; the others leave it unread (libvirtd copes).
bool ReadsDomainXml(const HookCall& call);

// Runs the hook for `call` with the domain XML `xml` (ignored unless ReadsDomainXml). Returns
// what to print on stdout: empty, or for `migrate begin` the XML libvirt uses instead of its
// own. An error refuses the operation (the hook exits 1 with the message, one line, which
// libvirt shows to whoever started it).
Result<std::string> RunHook(const HookCall& call, std::string_view xml, const HookConfig& config,
                            HookPorts& ports);

}  // namespace mkd::libvirt

#endif  // MKD_LIBVIRT_HOOK_H_
