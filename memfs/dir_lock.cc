// DirLock: flock on DIR/.mkd-memfs.lock (see dir_lock.h).
#include "memfs/dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace mkd::memfs {

Result<DirLock> DirLock::Acquire(const std::string& dir, const std::string& what,
                                 const std::string& holder) {
  const std::string path = dir + "/" + kDirLockName;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status::Io(what + " " + dir + ": cannot create the lock file " + path + ": " +
                      std::strerror(errno));
  }
  DirLock lock(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err != EWOULDBLOCK) {
      return Status::Io(what + " " + dir + ": locking " + path + ": " + std::strerror(err));
    }
    char buf[512] = {};
    const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    std::string other = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
    while (!other.empty() && (other.back() == '\n' || other.back() == '\0')) other.pop_back();
    return Status::FailedPrecondition(
        what + " " + dir + " is in use by another mkd-memfs (" +
        (other.empty() ? std::string("holder unknown") : other) +
        "); each daemon needs its own --store and --db directories. Refusing to start");
  }
  const std::string line = holder + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size())) {
    return Status::Io(what + " " + dir + ": writing " + path + ": " + std::strerror(errno));
  }
  return lock;
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

DirLock::DirLock(DirLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

DirLock& DirLock::operator=(DirLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

}  // namespace mkd::memfs
