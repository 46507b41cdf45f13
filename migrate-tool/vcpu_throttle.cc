// VcpuThrottle (vcpu_throttle.h): a cgroup v1 cpu group for QEMU's vCPU threads. Touches only the
// files the header lists, through plain open/read/write/mkdir/rmdir on ThrottleFs paths, so the
// unit tests run it against a temp directory that mimics the cgroup fs and /proc.
#include "migrate-tool/vcpu_throttle.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <set>
#include <utility>

namespace mkd::migrate {
namespace {

constexpr size_t kMaxControlFileBytes = 64 << 10;  // /proc/.../cgroup, cpu.stat, tasks
constexpr size_t kMaxNameBytes = 255;              // one path component (NAME_MAX)
constexpr size_t kMaxCgroupPathBytes = 4096;       // PATH_MAX
// The group's control files a fake tree (a plain directory) holds as regular files.
constexpr const char* kControlFiles[] = {"tasks", "cpu.cfs_quota_us", "cpu.cfs_period_us",
                                         "cpu.stat"};

std::string Errno(int err) { return std::strerror(err); }

Status ErrnoStatus(int err, const std::string& what) {
  std::string m = what + ": " + Errno(err);
  if (err == EACCES || err == EPERM) {
    return Status::PermissionDenied(m + " (the vCPU throttle needs root)");
  }
  return Status::Io(std::move(m));
}

// Reads the whole of a small file into `out`; 0 or an errno (EFBIG beyond `cap`).
int ReadSmallFile(const std::string& path, size_t cap, std::string* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  out->clear();
  int err = 0;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    if (n == 0) break;
    if (out->size() + static_cast<size_t>(n) > cap) {
      err = EFBIG;
      break;
    }
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return err;
}

// Writes `text` with one write(2): the cgroup fs takes one value per write (a tid to `tasks`,
// a number to cpu.cfs_quota_us) and reports its refusal (ESRCH, EINVAL) there. O_CREAT and
// O_APPEND are no-ops on the cgroup fs and make a fake tree's files behave. 0 or an errno.
int WriteText(const std::string& path, std::string_view text, bool append) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return errno;
  int err = 0;
  ssize_t n = 0;
  do {
    n = ::write(fd, text.data(), text.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    err = errno;
  } else if (static_cast<size_t>(n) != text.size()) {
    err = EIO;
  }
  if (::close(fd) != 0 && err == 0) err = errno;
  return err;
}

bool IsRegularFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool Printable(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b < 0x20 || b == 0x7f;
  });
}

Status CheckName(const std::string& name) {
  if (!name.empty() && name.size() <= kMaxNameBytes && name != "." &&
      name.find('/') == std::string::npos && name.find("..") == std::string::npos &&
      Printable(name)) {
    return Status::Ok();
  }
  return Status::InvalidArgument(
      "vCPU throttle cgroup name " +
      (Printable(name) ? "'" + name + "'" : std::string("(binary)")) +
      " is not one path component: it must be 1 to 255 printable characters without '/' or '..'");
}

Status CheckThreads(int pid, const std::vector<int>& tids) {
  if (pid <= 0) {
    return Status::InvalidArgument("vCPU throttle: bad QEMU process id " + std::to_string(pid));
  }
  if (tids.empty() || tids.size() > kMaxThrottledThreads) {
    return Status::InvalidArgument("vCPU throttle: " + std::to_string(tids.size()) +
                                   " threads, expected 1 to " +
                                   std::to_string(kMaxThrottledThreads));
  }
  std::vector<int> sorted = tids;
  std::sort(sorted.begin(), sorted.end());
  if (sorted.front() <= 0) {
    return Status::InvalidArgument("vCPU throttle: bad thread id " +
                                   std::to_string(sorted.front()));
  }
  if (const auto dup = std::adjacent_find(sorted.begin(), sorted.end()); dup != sorted.end()) {
    return Status::InvalidArgument("vCPU throttle: thread " + std::to_string(*dup) +
                                   " is listed twice");
  }
  return Status::Ok();
}

// The directory of the cpu controller's v1 hierarchy under `root` (systemd mounts it at
// cpu,cpuacct with a `cpu` symlink; a plain mount is `cpu`).
Result<std::string> FindCpuHierarchy(const std::string& root) {
  for (const char* dir : {"cpu", "cpu,cpuacct", "cpuacct,cpu"}) {
    std::string hierarchy = root + "/" + dir;
    if (IsRegularFile(hierarchy + "/cpu.cfs_quota_us")) return hierarchy;
  }
  if (IsRegularFile(root + "/cgroup.controllers")) {
    return Status::Unsupported(
        root +
        " is a cgroup v2 (unified) hierarchy only; the vCPU throttle needs the cgroup v1 "
        "cpu controller (cpu.cfs_quota_us) and does not support cgroup v2 yet: migrate "
        "without the throttle, or boot the host with systemd.unified_cgroup_hierarchy=0");
  }
  return Status::Unsupported(
      "no cgroup v1 cpu hierarchy under " + root +
      " (no cpu/cpu.cfs_quota_us): mount one (mount -t cgroup -o cpu cgroup " + root +
      "/cpu) or migrate without the vCPU throttle");
}

// The cpu cgroup of thread `tid` of process `pid`, from /proc.
Result<std::string> ThreadCpuCgroup(const std::string& proc_root, int pid, int tid) {
  const std::string task = proc_root + "/" + std::to_string(pid) + "/task/" + std::to_string(tid);
  const std::string who =
      "vCPU thread " + std::to_string(tid) + " of process " + std::to_string(pid);
  struct stat st {};
  if (::stat(task.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) {
      return Status::NotFound(who + " does not exist (no " + task +
                              "): QEMU exited or the thread list is stale; query the vCPUs "
                              "again (query-cpus-fast)");
    }
    return ErrnoStatus(err, "cannot look up " + task);
  }
  std::string text;
  if (const int err = ReadSmallFile(task + "/cgroup", kMaxControlFileBytes, &text); err != 0) {
    if (err == ENOENT || err == ESRCH) return Status::NotFound(who + " exited");
    return ErrnoStatus(err, "cannot read " + task + "/cgroup");
  }
  Result<std::string> cgroup = ParseCpuCgroup(text);
  if (cgroup.ok()) return cgroup;
  if (cgroup.status().code() == ErrorCode::kNotFound) {
    return Status::Unsupported(who + " is in no cgroup v1 cpu hierarchy (" + task +
                               "/cgroup has no cpu line; a cgroup v2-only host?): the vCPU "
                               "throttle needs the cgroup v1 cpu controller");
  }
  return cgroup.status().WithContext(task + "/cgroup");
}

// Creates `dir`, or accepts an empty one left by an earlier run.
Status MakeGroup(const std::string& dir, const std::string& parent_dir) {
  if (::mkdir(dir.c_str(), 0755) == 0) return Status::Ok();
  const int err = errno;
  if (err != EEXIST) return ErrnoStatus(err, "cannot create cgroup " + dir);
  std::string tasks;
  const int read_err = ReadSmallFile(dir + "/tasks", kMaxControlFileBytes, &tasks);
  if (read_err != 0 && read_err != ENOENT) {
    return ErrnoStatus(read_err, "cgroup " + dir + " exists already and its tasks are unreadable");
  }
  if (tasks.find_first_not_of(" \n") != std::string::npos) {
    const std::string first = tasks.substr(0, tasks.find('\n'));
    return Status::FailedPrecondition(
        "cgroup " + dir + " exists already and holds threads (e.g. " + first +
        "): a vCPU throttle left by an interrupted mkd-migrate? Move each thread back (echo TID "
        "> " +
        parent_dir + "/<its cgroup>/tasks) and rmdir " + dir + ", then retry");
  }
  spdlog::info("vCPU throttle: reusing the empty cgroup {} left by an earlier run", dir);
  return Status::Ok();
}

bool CheckCgroupPath(std::string_view path) {
  if (path.empty() || path.size() > kMaxCgroupPathBytes || path[0] != '/') return false;
  if (path.find('\0') != std::string_view::npos) return false;
  if (path == "/") return true;
  std::string_view rest = path.substr(1);
  while (true) {
    const size_t slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string_view::npos) return true;
    rest.remove_prefix(slash + 1);
  }
}

// "/a/b" -> "/a"; "/a" and "/" -> "" (the hierarchy's root).
std::string ParentPath(const std::string& path) {
  if (path == "/") return "";
  return path.substr(0, path.rfind('/'));
}

}  // namespace

Result<std::string> ParseCpuCgroup(std::string_view text) {
  std::optional<std::string> found;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    const std::string at = "cgroup line " + std::to_string(line_no);
    const size_t c1 = line.find(':');
    const size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) {
      return Status::Corrupt(at + " is not HIERARCHY-ID:CONTROLLERS:PATH");
    }
    const std::string_view id = line.substr(0, c1);
    if (id.empty() || id.find_first_not_of("0123456789") != std::string_view::npos) {
      return Status::Corrupt(at + ": hierarchy id is not a number");
    }
    bool cpu = false;
    std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
    while (!controllers.empty() && !cpu) {
      const size_t comma = controllers.find(',');
      cpu = controllers.substr(0, comma) == "cpu";
      controllers.remove_prefix(comma == std::string_view::npos ? controllers.size() : comma + 1);
    }
    if (!cpu) continue;
    if (found) return Status::Corrupt(at + " names the cpu controller a second time");
    const std::string_view path = line.substr(c2 + 1);
    if (!CheckCgroupPath(path)) {
      return Status::Corrupt(at + ": cpu cgroup path is not absolute and normal");
    }
    found = std::string(path);
  }
  if (!found) return Status::NotFound("no cgroup line names the cpu controller");
  return std::move(*found);
}

std::optional<uint64_t> ParseThrottledNs(std::string_view text) {
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    constexpr std::string_view kKey = "throttled_time ";
    if (!line.starts_with(kKey)) continue;
    const std::string_view value = line.substr(kKey.size());
    uint64_t ns = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), ns);
    if (ec != std::errc() || end != value.data() + value.size() || value.empty()) {
      return std::nullopt;
    }
    return ns;
  }
  return std::nullopt;
}

Result<VcpuThrottle> VcpuThrottle::Create(const ThrottleFs& fs, const std::string& name, int pid,
                                          std::vector<int> tids) {
  MKD_RETURN_IF_ERROR(CheckName(name));
  MKD_RETURN_IF_ERROR(CheckThreads(pid, tids));
  MKD_ASSIGN_OR_RETURN(std::string hierarchy, FindCpuHierarchy(fs.cgroup_root));

  VcpuThrottle t;
  t.hierarchy_ = std::move(hierarchy);
  for (const int tid : tids) {
    MKD_ASSIGN_OR_RETURN(std::string original, ThreadCpuCgroup(fs.proc_root, pid, tid));
    t.threads_.push_back({.tid = tid, .original = std::move(original), .in_group = false});
  }
  t.parent_dir_ = t.hierarchy_ + ParentPath(t.threads_.front().original);
  t.group_dir_ = t.parent_dir_ + "/" + name;
  MKD_RETURN_IF_ERROR(MakeGroup(t.group_dir_, t.parent_dir_));
  t.active_ = true;  // from here on, Restore() (or the destructor) undoes what was done

  Status s = t.WriteQuota(0);
  if (s.ok()) {
    const int err =
        WriteText(t.group_dir_ + "/cpu.cfs_period_us", std::to_string(kThrottlePeriodUs), false);
    if (err != 0) s = ErrnoStatus(err, "cannot write " + t.group_dir_ + "/cpu.cfs_period_us");
  }
  for (size_t i = 0; s.ok() && i < t.threads_.size(); ++i) {
    Thread& th = t.threads_[i];
    const int err = WriteText(t.group_dir_ + "/tasks", std::to_string(th.tid) + "\n", true);
    if (err == 0) {
      th.in_group = true;
    } else if (err == ESRCH) {
      s = Status::NotFound("vCPU thread " + std::to_string(th.tid) + " of process " +
                           std::to_string(pid) + " exited while being throttled: QEMU quit?");
    } else if (err == EINVAL) {
      s = Status::Io("cannot move vCPU thread " + std::to_string(th.tid) + " into " + t.group_dir_ +
                     ": " + Errno(err) +
                     " (a real-time thread? the group has no cpu.rt_runtime_us)");
    } else {
      s = ErrnoStatus(
          err, "cannot move vCPU thread " + std::to_string(th.tid) + " into " + t.group_dir_);
    }
  }
  if (!s.ok()) {
    if (Status undo = t.Restore(); !undo.ok()) {
      return Status(s.code(), s.message() + "; undoing it failed too: " + undo.message());
    }
    return s;
  }
  return t;
}

VcpuThrottle::VcpuThrottle(VcpuThrottle&& other) noexcept
    : hierarchy_(std::move(other.hierarchy_)),
      parent_dir_(std::move(other.parent_dir_)),
      group_dir_(std::move(other.group_dir_)),
      threads_(std::move(other.threads_)),
      percent_(other.percent_),
      active_(std::exchange(other.active_, false)),
      last_throttled_ns_(other.last_throttled_ns_) {}

VcpuThrottle& VcpuThrottle::operator=(VcpuThrottle&& other) noexcept {
  if (this == &other) return *this;
  Release();
  hierarchy_ = std::move(other.hierarchy_);
  parent_dir_ = std::move(other.parent_dir_);
  group_dir_ = std::move(other.group_dir_);
  threads_ = std::move(other.threads_);
  percent_ = other.percent_;
  active_ = std::exchange(other.active_, false);
  last_throttled_ns_ = other.last_throttled_ns_;
  return *this;
}

VcpuThrottle::~VcpuThrottle() { Release(); }

void VcpuThrottle::Release() {
  if (!active_) return;
  if (Status s = Restore(); !s.ok()) spdlog::warn("vCPU throttle: {}", s.ToString());
}

Status VcpuThrottle::Set(uint32_t percent) {
  if (percent > 99) {
    return Status::InvalidArgument("vCPU throttle of " + std::to_string(percent) +
                                   "% is out of range: it must be 0 to 99");
  }
  if (!active_) {
    return Status::FailedPrecondition("vCPU throttle " + group_dir_ +
                                      " was restored already; create a new one");
  }
  MKD_RETURN_IF_ERROR(WriteQuota(percent));
  percent_ = percent;
  return Status::Ok();
}

double VcpuThrottle::ThrottledSeconds() const {
  uint64_t ns = last_throttled_ns_;
  if (active_) {
    if (const std::optional<uint64_t> live = ReadThrottledNs()) ns = std::max(ns, *live);
  }
  return static_cast<double>(ns) / 1e9;
}

Status VcpuThrottle::Restore() {
  if (!active_) return Status::Ok();
  if (const std::optional<uint64_t> ns = ReadThrottledNs()) {
    last_throttled_ns_ = std::max(last_throttled_ns_, *ns);
  }
  Status first;  // the first error; the steps after it still run
  const auto keep = [&first](Status s) {
    if (first.ok() && !s.ok()) first = std::move(s);
  };
  if (percent_ != 0) {  // first lift the limit, in case a thread cannot be moved back
    Status s = WriteQuota(0);
    if (s.ok()) percent_ = 0;
    keep(std::move(s));
  }
  for (Thread& t : threads_) {
    if (t.in_group) keep(MoveBack(t));
  }
  if (!first.ok()) return first;  // a thread may still be in the group: keep it
  MKD_RETURN_IF_ERROR(RemoveGroup());
  active_ = false;
  return Status::Ok();
}

Status VcpuThrottle::WriteQuota(uint32_t percent) {
  const std::string path = group_dir_ + "/cpu.cfs_quota_us";
  const uint64_t quota_us = kThrottlePeriodUs * (100 - percent) / 100 * threads_.size();
  const std::string text = percent == 0 ? "-1" : std::to_string(quota_us);
  const int err = WriteText(path, text, false);
  if (err == EINVAL) {
    return Status::Io("the kernel refused quota " + text + " in " + path + ": " + Errno(err) +
                      " (a parent cgroup has a lower cpu.cfs_quota_us, e.g. libvirt's "
                      "<cputune>; lift it or throttle more)");
  }
  if (err != 0) return ErrnoStatus(err, "cannot write " + text + " to " + path);
  return Status::Ok();
}

Status VcpuThrottle::MoveBack(Thread& t) {
  const std::string tid = std::to_string(t.tid) + "\n";
  const std::string original = hierarchy_ + (t.original == "/" ? "" : t.original);
  int err = WriteText(original + "/tasks", tid, true);
  if (err == ENOENT) {  // its cgroup is gone (libvirt removed it?): keep it beside the group
    err = WriteText(parent_dir_ + "/tasks", tid, true);
    if (err == 0) {
      spdlog::warn("vCPU throttle: cgroup {} is gone; thread {} moved to {} instead", original,
                   t.tid, parent_dir_);
    }
  }
  if (err != 0 && err != ESRCH) {  // ESRCH: the thread exited, and so left the group
    return ErrnoStatus(err, "cannot move vCPU thread " + std::to_string(t.tid) + " back to " +
                                original + " from " + group_dir_);
  }
  t.in_group = false;
  return Status::Ok();
}

Status VcpuThrottle::RemoveGroup() {
  if (::rmdir(group_dir_.c_str()) == 0 || errno == ENOENT) return Status::Ok();
  int err = errno;
  if (err == ENOTEMPTY) {
    // Not the cgroup fs (whose rmdir ignores control files): a fake tree, where they are plain
    // files this class wrote or the test made. Remove those it knows and try again.
    for (const char* file : kControlFiles) ::unlink((group_dir_ + "/" + file).c_str());
    if (::rmdir(group_dir_.c_str()) == 0) return Status::Ok();
    err = errno;
  }
  if (err == EBUSY) {
    return Status::FailedPrecondition(
        "cannot remove cgroup " + group_dir_ +
        ": it still holds threads or child cgroups (see its tasks file); move them to their "
        "cgroups and rmdir it");
  }
  return ErrnoStatus(err, "cannot remove cgroup " + group_dir_);
}

std::optional<uint64_t> VcpuThrottle::ReadThrottledNs() const {
  std::string text;
  if (ReadSmallFile(group_dir_ + "/cpu.stat", kMaxControlFileBytes, &text) != 0) {
    return std::nullopt;
  }
  return ParseThrottledNs(text);
}

Status ReleaseLeftoverThrottle(const ThrottleFs& fs, const std::string& name, int pid,
                               std::string* what) {
  what->clear();
  MKD_RETURN_IF_ERROR(CheckName(name));
  Result<std::string> hierarchy = FindCpuHierarchy(fs.cgroup_root);
  if (!hierarchy.ok()) return Status::Ok();  // no throttle could have been applied here
  MKD_ASSIGN_OR_RETURN(std::string home, ThreadCpuCgroup(fs.proc_root, pid, pid));
  auto last = [](const std::string& path) { return path.substr(path.rfind('/') + 1); };
  if (last(home) == name) home = ParentPath(home).empty() ? "/" : ParentPath(home);
  std::set<std::string> groups;
  int moved = 0;
  std::error_code ec;
  const std::string tasks_dir = fs.proc_root + "/" + std::to_string(pid) + "/task";
  for (const auto& entry : std::filesystem::directory_iterator(tasks_dir, ec)) {
    int tid = 0;
    const std::string tid_text = entry.path().filename().string();
    if (std::from_chars(tid_text.data(), tid_text.data() + tid_text.size(), tid).ec !=
        std::errc()) {
      continue;
    }
    Result<std::string> cg = ThreadCpuCgroup(fs.proc_root, pid, tid);
    if (!cg.ok() || last(*cg) != name) continue;
    groups.insert(*cg);
    const std::string to = *hierarchy + (home == "/" ? "" : home) + "/tasks";
    if (const int err = WriteText(to, std::to_string(tid), /*append=*/true);
        err != 0 && err != ESRCH) {
      return ErrnoStatus(err, "cannot move thread " + std::to_string(tid) + " to " + to);
    }
    ++moved;
  }
  if (ec) return ErrnoStatus(ec.value(), "cannot list " + tasks_dir);
  const std::string beside = ParentPath(home) + "/" + name;
  groups.insert(beside);
  std::vector<std::string> removed;
  for (const std::string& g : groups) {
    const std::string dir = *hierarchy + g;
    if (::rmdir(dir.c_str()) == 0) {
      removed.push_back(dir);
    } else if (errno != ENOENT) {
      return ErrnoStatus(errno, "cannot remove the leftover throttle cgroup " + dir);
    }
  }
  if (moved > 0 || !removed.empty()) {
    *what = "moved " + std::to_string(moved) + " vCPU thread(s) out of the leftover throttle";
    for (const std::string& d : removed) *what += ", removed " + d;
  }
  return Status::Ok();
}

}  // namespace mkd::migrate
