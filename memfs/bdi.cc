// BDI dirty limits through sysfs (see bdi.h).
#include "memfs/bdi.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace mkd::memfs {
namespace {

Result<std::string> ReadValue(const std::string& path) {
  std::ifstream in(path);
  std::string v;
  if (!(in >> v)) return Status::Io("reading " + path + " failed");
  return v;
}

Status WriteValue(const std::string& path, int value) {
  std::ofstream out(path);
  out << value << "\n";
  out.flush();
  if (!out) {
    return Status::Io("writing " + std::to_string(value) + " to " + path +
                      " failed (is /sys mounted read-write, and are we root?)");
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> BdiDirOf(const std::string& mountpoint) {
  // From /proc/self/mountinfo, not stat(2): a stat of our own mount point before the FUSE loop
  // runs would wait for ourselves. Fields: id parent major:minor root mountpoint ...
  char resolved[PATH_MAX];
  if (::realpath(mountpoint.c_str(), resolved) == nullptr) {
    return Status::Io("resolving " + mountpoint + ": " + std::strerror(errno));
  }
  std::ifstream in("/proc/self/mountinfo");
  std::string line, found;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point;
    if (!(fields >> id >> parent >> dev >> root >> point)) continue;
    if (point == resolved) found = dev;  // the last entry is the top mount
  }
  if (found.empty()) return Status::NotFound(std::string(resolved) + " is not a mount point");
  return "/sys/class/bdi/" + found;
}

Result<std::string> ApplyBdiLimits(const std::string& mountpoint, const BdiLimits& limits) {
  MKD_ASSIGN_OR_RETURN(std::string dir, BdiDirOf(mountpoint));
  // max_ratio first: lowering strict_limit with a 1 % ratio would briefly be the worst of both.
  if (limits.max_ratio) MKD_RETURN_IF_ERROR(WriteValue(dir + "/max_ratio", *limits.max_ratio));
  if (limits.strict_limit) {
    MKD_RETURN_IF_ERROR(WriteValue(dir + "/strict_limit", *limits.strict_limit));
  }
  Result<std::string> ratio = ReadValue(dir + "/max_ratio");
  Result<std::string> strict = ReadValue(dir + "/strict_limit");
  return "max_ratio=" + (ratio.ok() ? *ratio : "?") +
         " strict_limit=" + (strict.ok() ? *strict : "?");
}

}  // namespace mkd::memfs
