// The QEMU command line for a VM definition (docs/qemu-config.md): guest RAM as a shared file
// <memory_dir>/<uuid>/ram (memory-backend-file,share=on + -machine memory-backend=), -uuid, a QMP
// unix socket, the serial console on a unix socket with a log file, and -incoming defer for a
// migration destination. Pure functions; thread-safe.
#ifndef MKD_QEMU_CONFIG_COMMAND_LINE_H_
#define MKD_QEMU_CONFIG_COMMAND_LINE_H_

#include <string>
#include <vector>

#include "qemu-config/vm_definition.h"

namespace mkd::qemuconfig {

// The id of the RAM backend object; the same on every host, so migration finds the block.
inline constexpr char kRamBackendId[] = "mkd-ram";

// Where a VM's files live on a host.
struct VmPaths {
  std::string memory_dir;     // <memory_dir>/<uuid>
  std::string memory_file;    // <memory_dir>/<uuid>/ram
  std::string run_dir;        // <run_dir>/<uuid>
  std::string qmp_socket;     // <run_dir>/<uuid>/qmp.sock
  std::string serial_log;     // <run_dir>/<uuid>/serial.log (everything the console printed)
  std::string serial_socket;  // <run_dir>/<uuid>/serial.sock (the console: connect to type on it)
  std::string pid_file;       // <run_dir>/<uuid>/qemu.pid
};
VmPaths PathsFor(const VmDefinition& vm);

struct LaunchOptions {
  std::string qemu_binary = "qemu-system-x86_64";
  std::string accel = "tcg";  // "tcg" or "kvm"
  bool incoming = false;      // -incoming defer: wait for a migration
  bool paused = false;        // -S: stay paused until `cont` (an incoming VM: after it arrived)
  bool daemonize = true;      // -daemonize -pidfile; false for a foreground QEMU
};

// The arguments by which a miyakodori VM differs from any QEMU VM, whoever starts QEMU (mkd-vm, or
// libvirt through <qemu:commandline>, mkd-libvirt): its RAM in <memory_dir>/<uuid>/ram mapped
// shared and used as the machine's memory, the console socket and log, and the QMP monitor
// mkd-migrate and serve use, all under <run_dir>/<uuid>/.
std::vector<std::string> MkdQemuArgs(const VmDefinition& vm);

// argv[0] is options.qemu_binary.
std::vector<std::string> BuildQemuCommandLine(const VmDefinition& vm, const LaunchOptions& options);

// The command line as one shell-quoted string, for printing.
std::string ShellQuote(const std::vector<std::string>& argv);

}  // namespace mkd::qemuconfig

#endif  // MKD_QEMU_CONFIG_COMMAND_LINE_H_
