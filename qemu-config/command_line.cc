// Building the QEMU command line from a checked VmDefinition.
#include "qemu-config/command_line.h"

namespace mkd::qemuconfig {

VmPaths PathsFor(const VmDefinition& vm) {
  VmPaths p;
  const std::string uuid = vm.uuid.ToString();
  p.memory_dir = vm.memory_dir + "/" + uuid;
  p.memory_file = p.memory_dir + "/ram";
  p.run_dir = vm.run_dir + "/" + uuid;
  p.qmp_socket = p.run_dir + "/qmp.sock";
  p.serial_log = p.run_dir + "/serial.log";
  p.serial_socket = p.run_dir + "/serial.sock";
  p.pid_file = p.run_dir + "/qemu.pid";
  return p;
}

std::vector<std::string> MkdQemuArgs(const VmDefinition& vm) {
  const VmPaths paths = PathsFor(vm);
  const std::string mem = std::to_string(vm.memory_mib) + "M";
  return {
      // share=on: QEMU maps the file MAP_SHARED, so the kernel page cache of the file is guest
      // RAM and memfs sees every page the guest writes when it is written back.
      "-object",
      std::string("memory-backend-file,id=") + kRamBackendId + ",size=" + mem +
          ",mem-path=" + paths.memory_file + ",share=on",
      "-machine",
      std::string("memory-backend=") + kRamBackendId,
      "-chardev",
      // The console is a socket (so a line can be typed into it) whose output also goes to the
      // log; with no client connected QEMU still logs everything the guest prints.
      "socket,id=mkd-serial,path=" + paths.serial_socket +
          ",server=on,wait=off,logfile=" + paths.serial_log,
      "-serial",
      "chardev:mkd-serial",
      "-qmp",
      "unix:" + paths.qmp_socket + ",server=on,wait=off",
  };
}

std::vector<std::string> BuildQemuCommandLine(const VmDefinition& vm,
                                              const LaunchOptions& options) {
  const VmPaths paths = PathsFor(vm);
  const std::string mem = std::to_string(vm.memory_mib) + "M";
  std::vector<std::string> a = {
      options.qemu_binary,
      "-name",
      vm.name,
      "-uuid",
      vm.uuid.ToString(),
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      "-accel",
      options.accel,
      "-machine",
      vm.machine,
      "-m",
      mem,
      "-smp",
      std::to_string(vm.vcpus),
  };
  const std::vector<std::string> mkd = MkdQemuArgs(vm);
  a.insert(a.end(), mkd.begin(), mkd.end());
  if (!vm.kernel.empty()) {
    a.insert(a.end(), {"-kernel", vm.kernel});
    if (!vm.initrd.empty()) a.insert(a.end(), {"-initrd", vm.initrd});
    if (!vm.append.empty()) a.insert(a.end(), {"-append", vm.append});
  } else {
    const bool qcow2 = vm.disk.size() > 6 && vm.disk.ends_with(".qcow2");
    a.insert(a.end(), {"-drive", "file=" + vm.disk +
                                     ",if=virtio,cache=none,format=" + (qcow2 ? "qcow2" : "raw")});
  }
  if (vm.network != NetworkType::kNone) {
    std::string netdev =
        vm.network == NetworkType::kUser
            ? "user,id=mkd-net"
            : "tap,id=mkd-net,ifname=" + vm.tap_ifname + ",script=no,downscript=no";
    std::string device = "virtio-net-pci,netdev=mkd-net";
    if (!vm.mac.empty()) device += ",mac=" + vm.mac;
    a.insert(a.end(), {"-netdev", netdev, "-device", device});
  }
  if (options.incoming) a.insert(a.end(), {"-incoming", "defer"});
  if (options.paused) a.push_back("-S");
  if (options.daemonize) a.insert(a.end(), {"-daemonize", "-pidfile", paths.pid_file});
  a.insert(a.end(), vm.extra_args.begin(), vm.extra_args.end());
  return a;
}

std::string ShellQuote(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& arg : argv) {
    if (!out.empty()) out += ' ';
    const bool plain = !arg.empty() && arg.find_first_not_of(
                                           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                           "0123456789-_./=:,+@%") == std::string::npos;
    if (plain) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char c : arg) {
      if (c == '\'') {
        out += "'\\''";
      } else {
        out += c;
      }
    }
    out += '\'';
  }
  return out;
}

}  // namespace mkd::qemuconfig
