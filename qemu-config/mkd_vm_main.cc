// mkd-vm: start, stop and inspect a VM from its definition file (docs/qemu-config.md).
// Thin: parses arguments and calls vm_control.h.
#include <fmt/core.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "qemu-config/accel_probe.h"
#include "qemu-config/vm_control.h"
#include "qemu-config/vm_definition.h"

namespace {

using mkd::qemuconfig::VmDefinition;

int Fail(const std::string& command, const mkd::Status& s) {
  fmt::print(stderr, "mkd-vm {}: {}\n", command, s.ToString());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "mkd-vm: start a QEMU VM whose RAM lives in a file on mkd-memfs (or tmpfs, the baseline),\n"
      "from a small JSON definition. See docs/qemu-config.md."};
  app.require_subcommand(1);
  std::string def_path;
  mkd::qemuconfig::StartOptions start;
  bool foreground = false;

  auto add_common = [&](CLI::App* cmd) {
    cmd->add_option("definition", def_path, "VM definition file (JSON)")->required();
  };
  auto add_start_options = [&](CLI::App* cmd) {
    cmd->add_option("--accel", start.accel, "auto (test boot, cached), kvm or tcg")
        ->check(CLI::IsMember({"auto", "kvm", "tcg"}));
    cmd->add_flag("--incoming", start.incoming,
                  "start as a migration destination (-incoming defer)");
    cmd->add_flag("--paused", start.paused,
                  "stay paused until QMP `cont` (-S); with --incoming also after the migration "
                  "arrived, so its memory can be compared with the source's");
    cmd->add_option("--qemu", start.qemu_binary, "QEMU binary");
  };

  CLI::App* start_cmd = app.add_subcommand("start", "start the VM's QEMU in the background");
  add_common(start_cmd);
  add_start_options(start_cmd);
  start_cmd->add_flag("--foreground", foreground,
                      "run QEMU in the foreground in place of mkd-vm (same pid; for "
                      "supervisors and tests)");

  CLI::App* cmdline_cmd = app.add_subcommand("cmdline", "print the QEMU command line");
  add_common(cmdline_cmd);
  add_start_options(cmdline_cmd);
  bool daemonize = false;
  cmdline_cmd->add_flag("--daemonize", daemonize, "include -daemonize -pidfile");

  int stop_timeout = 20;
  CLI::App* stop_cmd = app.add_subcommand("stop", "quit the VM's QEMU (QMP quit, then kill)");
  add_common(stop_cmd);
  stop_cmd->add_option("--timeout", stop_timeout, "seconds before SIGKILL")
      ->check(CLI::Range(1, 600));

  CLI::App* status_cmd = app.add_subcommand("status", "is the VM's QEMU running on this host");
  add_common(status_cmd);

  std::string probe_kernel;
  CLI::App* probe_cmd = app.add_subcommand(
      "probe-accel", "test-boot a kernel under KVM and say which accelerator mkd-vm would use");
  probe_cmd->add_option("--kernel", probe_kernel, "kernel to test-boot")->required();

  CLI11_PARSE(app, argc, argv);

  if (*probe_cmd) {
    mkd::qemuconfig::ProbeOptions probe;
    probe.kernel = probe_kernel;
    probe.cache_file = start.accel_cache;
    mkd::qemuconfig::AccelChoice choice = mkd::qemuconfig::ChooseAccel(probe);
    fmt::print("{}: {}{}\n", choice.accel, choice.reason, choice.cached ? " (cached)" : "");
    return 0;
  }

  mkd::Result<VmDefinition> vm = mkd::qemuconfig::LoadVmDefinition(def_path);
  if (!vm.ok()) return Fail(app.get_subcommands().front()->get_name(), vm.status());

  if (*cmdline_cmd || (*start_cmd && foreground)) {
    mkd::Result<mkd::qemuconfig::PreparedLaunch> prepared =
        mkd::qemuconfig::PrepareCommandLine(*vm, start, daemonize);
    if (!prepared.ok()) return Fail(*cmdline_cmd ? "cmdline" : "start", prepared.status());
    std::vector<std::string>* args = &prepared->argv;
    if (*cmdline_cmd) {
      fmt::print("{}\n", mkd::qemuconfig::ShellQuote(*args));
      return 0;
    }
    fmt::print(stderr, "mkd-vm: exec {} (accel: {}, {})\n", (*args)[0], prepared->accel,
               prepared->accel_reason);
    std::vector<char*> c_args;
    for (std::string& a : *args) c_args.push_back(a.data());
    c_args.push_back(nullptr);
    execvp(c_args[0], c_args.data());
    return Fail("start", mkd::Status::Io("cannot run " + (*args)[0]));
  }
  if (*start_cmd) {
    mkd::Result<mkd::qemuconfig::StartedVm> s = mkd::qemuconfig::StartVm(*vm, start);
    if (!s.ok()) return Fail("start", s.status());
    fmt::print(
        "started VM {} ({}): QEMU pid {}, status {}\n  accel  {} ({})\n  memory {}\n"
        "  qmp    {}\n  serial {}\n",
        vm->name, vm->uuid.ToString(), s->pid, s->qemu_status, s->accel, s->accel_reason,
        s->paths.memory_file, s->paths.qmp_socket, s->paths.serial_log);
    return 0;
  }
  if (*stop_cmd) {
    mkd::Status s = mkd::qemuconfig::StopVm(*vm, std::chrono::seconds(stop_timeout));
    if (!s.ok()) return Fail("stop", s);
    fmt::print("stopped VM {}\n", vm->name);
    return 0;
  }
  std::optional<pid_t> pid = mkd::qemuconfig::RunningPid(*vm);
  if (!pid) {
    fmt::print("VM {} is not running on this host\n", vm->name);
    return 3;
  }
  fmt::print("VM {} is running: QEMU pid {}\n", vm->name, *pid);
  return 0;
}
