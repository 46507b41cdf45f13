// Child processes: posix_spawn with redirections, bounded waits, terminate-then-kill.
#include "qemu-config/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace mkd::qemuconfig {

Result<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty()) return Status::InvalidArgument("nothing to start");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // No O_CLOEXEC on these: they must survive the exec. (With it, QEMU found fds 1 and 2 closed,
  // opened its serial log as fd 1, and -daemonize then replaced it by /dev/null.)
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (!options.stdout_path.empty()) {
    posix_spawn_file_actions_addopen(&actions, 1, options.stdout_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }
  if (!options.stderr_path.empty() && options.stderr_path == options.stdout_path) {
    // One open file for both: two opens would each write from offset 0 over the other.
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
  } else if (!options.stderr_path.empty()) {
    posix_spawn_file_actions_addopen(&actions, 2, options.stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return Status::Io("cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

Result<std::optional<int>> WaitFor(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return std::optional<int>(status);
    if (r < 0 && errno != EINTR) {
      return Status::Io("waiting for process " + std::to_string(pid) + ": " + std::strerror(errno));
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::optional<int>();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void Terminate(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  if (kill(pid, SIGTERM) != 0) {
    waitpid(pid, nullptr, WNOHANG);
    return;
  }
  Result<std::optional<int>> done = WaitFor(pid, grace);
  if (done.ok() && done->has_value()) return;
  kill(pid, SIGKILL);
  (void)WaitFor(pid, std::chrono::seconds(5));
}

bool ProcessExists(pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "stopped (wait status " + std::to_string(status) + ")";
}

}  // namespace mkd::qemuconfig
