// Starting, inspecting and stopping one VM on this host from its definition: the work behind the
// mkd-vm subcommands. Checks the host first (memory directory on the right file system, boot
// files readable, no QEMU already running for the VM), so that errors say what to fix.
// Not thread-safe for the same VM (one operator command at a time per VM).
#ifndef MKD_QEMU_CONFIG_VM_CONTROL_H_
#define MKD_QEMU_CONFIG_VM_CONTROL_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include "base/status.h"
#include "qemu-config/command_line.h"
#include "qemu-config/vm_definition.h"

namespace mkd::qemuconfig {

struct StartOptions {
  std::string accel = "auto";  // "auto" (test boot, cached), "kvm" or "tcg"
  bool incoming = false;       // wait for a migration (-incoming defer)
  bool paused = false;         // -S: stay paused until `cont` (an incoming VM: after it arrived)
  std::string qemu_binary = "qemu-system-x86_64";
  std::string accel_cache = "/run/miyakodori/accel.json";
  std::chrono::seconds timeout{30};  // for QEMU to start and answer on QMP
};

struct StartedVm {
  pid_t pid = -1;
  std::string accel;
  std::string accel_reason;
  VmPaths paths;
  std::string qemu_status;  // as reported by QMP query-status, e.g. "running" or "inmigrate"
};

// What PrepareCommandLine decided.
struct PreparedLaunch {
  std::vector<std::string> argv;
  std::string accel;         // "kvm" or "tcg"
  std::string accel_reason;  // why, for the operator
};

// The checks, accelerator choice and command line, without starting anything.
Result<PreparedLaunch> PrepareCommandLine(const VmDefinition& vm, const StartOptions& options,
                                          bool daemonize);

// Starts QEMU in the background (-daemonize) and waits until it answers on QMP.
Result<StartedVm> StartVm(const VmDefinition& vm, const StartOptions& options);

// The pid of the VM's running QEMU (from its pid file), or nullopt.
std::optional<pid_t> RunningPid(const VmDefinition& vm);

// Asks QEMU to quit over QMP, then SIGTERM/SIGKILL by pid after `timeout`. Removes the RAM file
// when it is on tmpfs (memfs keeps it as the VM's incarnation). NotFound when not running.
Status StopVm(const VmDefinition& vm, std::chrono::seconds timeout);

}  // namespace mkd::qemuconfig

#endif  // MKD_QEMU_CONFIG_VM_CONTROL_H_
