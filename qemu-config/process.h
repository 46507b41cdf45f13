// Starting and stopping child processes with deadlines (posix_spawn, waitpid, kill), for mkd-vm.
// Every wait is bounded; a child that does not stop on SIGTERM is killed with SIGKILL and reaped.
// Functions are thread-safe (they act only on the pids given).
#ifndef MKD_QEMU_CONFIG_PROCESS_H_
#define MKD_QEMU_CONFIG_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace mkd::qemuconfig {

struct SpawnOptions {
  std::string stdout_path;  // empty: inherit; otherwise truncated and written
  std::string stderr_path;  // empty: inherit; the same as stdout_path: one file, both streams
};

// Starts argv (argv[0] looked up in PATH) with stdin from /dev/null.
Result<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options = {});

// Waits for the child to exit for at most `timeout`: its wait status, or nullopt if it still runs.
Result<std::optional<int>> WaitFor(pid_t pid, std::chrono::milliseconds timeout);

// SIGTERM, up to `grace` for it to exit, then SIGKILL; reaps the child. No-op if already gone.
void Terminate(pid_t pid, std::chrono::milliseconds grace = std::chrono::seconds(5));

// Whether a process (not necessarily a child) with this pid exists.
bool ProcessExists(pid_t pid);

// "exited with status 1", "killed by signal 9".
std::string DescribeWaitStatus(int status);

}  // namespace mkd::qemuconfig

#endif  // MKD_QEMU_CONFIG_PROCESS_H_
