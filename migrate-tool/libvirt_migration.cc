// `virsh migrate` as a child process (see libvirt_migration.h).
#include "migrate-tool/libvirt_migration.h"

#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "qemu-config/process.h"

namespace mkd::migrate {

std::string OutputTail(const std::string& path, size_t max) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (s.size() > max) {
    s = s.substr(s.size() - max);
    // From the first whole line, unless the last line alone is longer: then its end.
    const size_t nl = s.find('\n');
    s = nl == std::string::npos ? "..." + s : s.substr(nl + 1);
  }
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  return s;
}

std::vector<std::string> VirshMigrateArgv(const VirshOptions& o, const std::string& migrate_uri) {
  return {o.virsh, "-c",         o.connect, "migrate", "--live", o.domain, o.destination,
          "--migrateuri", migrate_uri};
}

VirshMigration::~VirshMigration() {
  if (pid_ > 0 && !done_) (void)Abort();
}

Status VirshMigration::Start(const std::string& migrate_uri) {
  if (pid_ > 0) return Status::FailedPrecondition("libvirt's migration was started already");
  qemuconfig::SpawnOptions so;
  so.stdout_path = o_.log_path;
  so.stderr_path = o_.log_path;
  MKD_ASSIGN_OR_RETURN(pid_t pid, qemuconfig::Spawn(VirshMigrateArgv(o_, migrate_uri), so));
  pid_ = pid;
  return Status::Ok();
}

Status VirshMigration::Outcome(int wait_status) const {
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) return Status::Ok();
  const std::string said = OutputTail(o_.log_path);
  return Status::FailedPrecondition("libvirt's migration of domain " + o_.domain + " to " +
                                    o_.destination + " failed (virsh " +
                                    qemuconfig::DescribeWaitStatus(wait_status) +
                                    (said.empty() ? ")" : "): " + said));
}

std::optional<Status> VirshMigration::Poll() {
  if (done_ || pid_ <= 0) return done_;
  Result<std::optional<int>> w = qemuconfig::WaitFor(pid_, std::chrono::milliseconds(0));
  if (!w.ok()) {
    done_ = w.status();
  } else if (w->has_value()) {
    done_ = Outcome(**w);
  }
  return done_;
}

Status VirshMigration::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return Status::FailedPrecondition("libvirt's migration was never started");
  if (done_) return *done_;
  Result<std::optional<int>> w = qemuconfig::WaitFor(pid_, timeout);
  if (!w.ok()) return *(done_ = w.status());
  if (!w->has_value()) {
    return Status::Io("libvirt's migration of domain " + o_.domain + " did not end within " +
                      std::to_string(timeout.count() / 1000) + " s");
  }
  return *(done_ = Outcome(**w));
}

Status VirshMigration::Abort() {
  if (pid_ <= 0 || Poll().has_value()) return Status::Ok();
  // libvirt cancels QEMU's migration and resumes the domain here; virsh migrate then ends.
  Result<pid_t> abort = qemuconfig::Spawn({o_.virsh, "-c", o_.connect, "domjobabort", o_.domain},
                                          {"/dev/null", "/dev/null"});
  if (abort.ok()) {
    Result<std::optional<int>> w = qemuconfig::WaitFor(*abort, std::chrono::seconds(10));
    if (!w.ok() || !w->has_value()) qemuconfig::Terminate(*abort, std::chrono::seconds(1));
  }
  (void)Wait(std::chrono::seconds(30));
  if (!done_) {
    qemuconfig::Terminate(pid_, std::chrono::seconds(2));
    done_ = Status::Io("virsh migrate did not end after domjobabort; it was killed");
    return *done_;
  }
  return Status::Ok();
}

}  // namespace mkd::migrate
