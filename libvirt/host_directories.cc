// Making the VM's directories and giving QEMU's to its user. Touches the directories it is
// asked for and their missing parents; reads the user and group databases.
#include "libvirt/host_directories.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

namespace mkd::libvirt {
namespace {

std::string Errno(int err) { return std::strerror(err); }

// A decimal id, or nullopt.
template <typename Id>
std::optional<Id> NumericId(const std::string& text) {
  Id id{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return id;
}

// mkdir that accepts an existing directory; `made` says whether this call made it.
Status MakeOne(const std::string& path, mode_t mode, bool* made) {
  *made = false;
  if (::mkdir(path.c_str(), mode) == 0) {
    *made = true;
    return Status::Ok();
  }
  const int err = errno;
  struct stat st {};
  if (err == EEXIST && ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Status::Ok();
  if (err == EEXIST) return Status::FailedPrecondition(path + " exists and is not a directory");
  return Status::Io("cannot create directory " + path + ": " + Errno(err));
}

// The missing parents of `path`, root first, each made with mode 0755.
Status MakeParents(const std::string& path) {
  std::vector<std::string> prefixes;
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    prefixes.push_back(path.substr(0, slash));
  }
  for (const std::string& dir : prefixes) {
    bool made = false;
    MKD_RETURN_IF_ERROR(MakeOne(dir, 0755, &made));
    if (made && ::chmod(dir.c_str(), 0755) != 0) {
      return Status::Io("cannot make " + dir + " mode 0755: " + Errno(errno));
    }
  }
  return Status::Ok();
}

Status GiveTo(const std::string& path, const DirectoryOwner& owner) {
  MKD_ASSIGN_OR_RETURN(OwnerIds ids, ResolveOwner(owner.user, owner.group));
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return Status::Io("cannot open directory " + path + " (a symlink is refused): " + Errno(errno));
  }
  Status status;
  if (::fchown(fd, ids.uid, ids.gid) != 0) {
    status = Status::Io("cannot give " + path + " to " + owner.user + ":" + owner.group + ": " +
                        Errno(errno));
  } else if (::fchmod(fd, static_cast<mode_t>(owner.mode)) != 0) {
    status = Status::Io("cannot set the mode of " + path + ": " + Errno(errno));
  }
  ::close(fd);
  return status;
}

}  // namespace

Result<OwnerIds> ResolveOwner(const std::string& user, const std::string& group) {
  OwnerIds ids;
  std::vector<char> buffer(16384);
  struct passwd pw {};
  struct passwd* pw_found = nullptr;
  if (::getpwnam_r(user.c_str(), &pw, buffer.data(), buffer.size(), &pw_found) == 0 &&
      pw_found != nullptr) {
    ids.uid = pw_found->pw_uid;
  } else if (std::optional<uid_t> uid = NumericId<uid_t>(user)) {
    ids.uid = *uid;
  } else {
    return Status::NotFound("--vm-user " + user + ": no such user on this host");
  }
  struct group gr {};
  struct group* gr_found = nullptr;
  if (::getgrnam_r(group.c_str(), &gr, buffer.data(), buffer.size(), &gr_found) == 0 &&
      gr_found != nullptr) {
    ids.gid = gr_found->gr_gid;
  } else if (std::optional<gid_t> gid = NumericId<gid_t>(group)) {
    ids.gid = *gid;
  } else {
    return Status::NotFound("--vm-group " + group + ": no such group on this host");
  }
  return ids;
}

Status HostDirectories::Ensure(const std::string& path, bool parents,
                               const std::optional<DirectoryOwner>& owner) {
  if (path.empty() || path.front() != '/') {
    return Status::InvalidArgument("directory " + path + " is not an absolute path");
  }
  if (parents) MKD_RETURN_IF_ERROR(MakeParents(path));
  bool made = false;
  MKD_RETURN_IF_ERROR(MakeOne(path, 0700, &made));
  if (owner) return GiveTo(path, *owner);
  return Status::Ok();
}

}  // namespace mkd::libvirt
