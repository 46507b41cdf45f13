// mkd-vm's work: host checks, accelerator choice, starting QEMU daemonized, stopping it.
#include "qemu-config/vm_control.h"

#include <signal.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "qemu-config/accel_probe.h"
#include "qemu-config/process.h"
#include "qemu-config/qmp/client.h"

namespace mkd::qemuconfig {
namespace {

constexpr long kTmpfsMagic = 0x01021994;
constexpr long kFuseMagic = 0x65735546;

Status CheckMemoryDir(const VmDefinition& vm) {
  struct statfs fs {};
  if (statfs(vm.memory_dir.c_str(), &fs) != 0) {
    return Status::NotFound("memory_backing.dir " + vm.memory_dir + " does not exist" +
                            (vm.backing == MemoryBacking::kMemfs
                                 ? " (mount mkd-memfs there first)"
                                 : " (create it on a tmpfs, e.g. under /dev/shm)"));
  }
  if (vm.backing == MemoryBacking::kMemfs && fs.f_type != kFuseMagic) {
    return Status::FailedPrecondition("memory_backing.dir " + vm.memory_dir +
                                      " is not a mounted mkd-memfs; start mkd-memfs there, or use "
                                      "\"type\": \"tmpfs\" for plain QEMU");
  }
  if (vm.backing == MemoryBacking::kTmpfs && fs.f_type != kTmpfsMagic) {
    return Status::FailedPrecondition(
        "memory_backing.dir " + vm.memory_dir +
        " is not on tmpfs: guest RAM would be written to disk. Use a directory under /dev/shm "
        "or mount a tmpfs there");
  }
  return Status::Ok();
}

Status CheckReadable(const std::string& what, const std::string& path) {
  if (path.empty() || access(path.c_str(), R_OK) == 0) return Status::Ok();
  return Status::NotFound(what + " " + path + " is not readable");
}

std::optional<pid_t> ReadPidFile(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return std::nullopt;
  return static_cast<pid_t>(pid);
}

Status MakeDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Io("cannot create " + dir + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

std::optional<pid_t> RunningPid(const VmDefinition& vm) {
  std::optional<pid_t> pid = ReadPidFile(PathsFor(vm).pid_file);
  if (pid && ProcessExists(*pid)) return pid;
  return std::nullopt;
}

Result<PreparedLaunch> PrepareCommandLine(const VmDefinition& vm, const StartOptions& options,
                                          bool daemonize) {
  MKD_RETURN_IF_ERROR(CheckMemoryDir(vm));
  MKD_RETURN_IF_ERROR(CheckReadable("boot.kernel", vm.kernel));
  MKD_RETURN_IF_ERROR(CheckReadable("boot.initrd", vm.initrd));
  MKD_RETURN_IF_ERROR(CheckReadable("boot.disk", vm.disk));
  PreparedLaunch prepared;
  LaunchOptions launch;
  launch.qemu_binary = options.qemu_binary;
  launch.incoming = options.incoming;
  launch.paused = options.paused;
  launch.daemonize = daemonize;
  if (options.accel == "auto") {
    ProbeOptions probe;
    probe.qemu_binary = options.qemu_binary;
    probe.kernel = vm.kernel;
    probe.cache_file = options.accel_cache;
    AccelChoice choice = ChooseAccel(probe);
    launch.accel = choice.accel;
    prepared.accel_reason =
        choice.reason + (choice.cached ? " (cached in " + probe.cache_file + ")" : "");
  } else if (options.accel == "kvm" || options.accel == "tcg") {
    launch.accel = options.accel;
    prepared.accel_reason = "chosen with --accel";
  } else {
    return Status::InvalidArgument("--accel must be auto, kvm or tcg");
  }
  prepared.accel = launch.accel;
  prepared.argv = BuildQemuCommandLine(vm, launch);
  return prepared;
}

Result<StartedVm> StartVm(const VmDefinition& vm, const StartOptions& options) {
  const VmPaths paths = PathsFor(vm);
  if (std::optional<pid_t> pid = RunningPid(vm)) {
    return Status::FailedPrecondition("VM " + vm.name + " is already running (QEMU pid " +
                                      std::to_string(*pid) + "); stop it first");
  }
  StartedVm started;
  MKD_ASSIGN_OR_RETURN(PreparedLaunch prepared,
                       PrepareCommandLine(vm, options, /*daemonize=*/true));
  started.accel = prepared.accel;
  started.accel_reason = prepared.accel_reason;
  MKD_RETURN_IF_ERROR(MakeDir(paths.run_dir));
  MKD_RETURN_IF_ERROR(MakeDir(paths.memory_dir));
  std::error_code ec;
  std::filesystem::remove(paths.pid_file, ec);
  std::filesystem::remove(paths.qmp_socket, ec);
  std::filesystem::remove(paths.serial_socket, ec);
  if (vm.backing == MemoryBacking::kTmpfs) {
    // A RAM file left by a QEMU that died would hand its old content to the new guest.
    std::filesystem::remove(paths.memory_file, ec);
  }
  const std::string stderr_log = paths.run_dir + "/qemu.stderr";
  MKD_ASSIGN_OR_RETURN(pid_t parent,
                       Spawn(prepared.argv, {paths.run_dir + "/qemu.stdout", stderr_log}));
  // With -daemonize the first process exits once QEMU is initialised (or has failed).
  MKD_ASSIGN_OR_RETURN(std::optional<int> done, WaitFor(parent, options.timeout));
  if (!done.has_value()) {
    Terminate(parent);
    return Status::Io("QEMU did not finish starting within " +
                      std::to_string(options.timeout.count()) + " s; see " + stderr_log);
  }
  if (!WIFEXITED(*done) || WEXITSTATUS(*done) != 0) {
    std::ifstream err(stderr_log);
    std::string first_line;
    std::getline(err, first_line);
    return Status::Io("QEMU failed to start (" + DescribeWaitStatus(*done) + "): " + first_line +
                      " (full output in " + stderr_log + ")");
  }
  std::optional<pid_t> pid = ReadPidFile(paths.pid_file);
  if (!pid) return Status::Io("QEMU started but wrote no pid file " + paths.pid_file);
  started.pid = *pid;
  started.paths = paths;

  Result<qmp::QmpClient> client =
      qmp::QmpClient::Connect(paths.qmp_socket, std::chrono::seconds(10));
  if (!client.ok()) {
    Terminate(*pid);
    return client.status().WithContext("QEMU (pid " + std::to_string(*pid) +
                                       ") does not answer on QMP");
  }
  Result<qmp::VmStatus> status = client->QueryStatus();
  if (!status.ok()) {
    Terminate(*pid);
    return status.status().WithContext("query-status");
  }
  started.qemu_status = status->status;
  return started;
}

Status StopVm(const VmDefinition& vm, std::chrono::seconds timeout) {
  const VmPaths paths = PathsFor(vm);
  std::optional<pid_t> pid = RunningPid(vm);
  if (!pid) return Status::NotFound("VM " + vm.name + " is not running on this host");
  // Polite first: QMP quit lets QEMU flush and exit on its own.
  Result<qmp::QmpClient> client =
      qmp::QmpClient::Connect(paths.qmp_socket, std::chrono::seconds(2));
  if (client.ok()) (void)client->Execute("quit");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (ProcessExists(*pid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (ProcessExists(*pid)) {
    kill(*pid, SIGKILL);
    for (int i = 0; i < 100 && ProcessExists(*pid); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  std::error_code ec;
  std::filesystem::remove(paths.pid_file, ec);
  if (vm.backing == MemoryBacking::kTmpfs) std::filesystem::remove(paths.memory_file, ec);
  return Status::Ok();
}

}  // namespace mkd::qemuconfig
