// DirLock: an exclusive lock on a directory that one mkd-memfs uses (its --store and its --db),
// so that a second daemon given the same directory refuses to start instead of deleting the
// first one's page files or serving one VM's pages for another's (issue 13).
//
// The lock is flock(LOCK_EX) on the file DIR/.mkd-memfs.lock, which holds one line naming the
// holder (pid, mount point, start time) for the refusal message. flock locks belong to the open
// file: they end when the holder exits, even by SIGKILL, so a stale lock file never blocks a
// restart; two DirLocks in one process conflict as two processes do.
//
// Move-only owner of the lock file's descriptor; the lock is released by the destructor.
#ifndef MKD_MEMFS_DIR_LOCK_H_
#define MKD_MEMFS_DIR_LOCK_H_

#include <string>

#include "base/status.h"

namespace mkd::memfs {

inline constexpr char kDirLockName[] = ".mkd-memfs.lock";

class DirLock {
 public:
  // Locks `dir` (which must exist) for `holder` (a short description of this process, written
  // into the lock file). FailedPrecondition naming `what` ("--store", "--db"), the directory and
  // the current holder when another process holds the lock; Io for other failures.
  static Result<DirLock> Acquire(const std::string& dir, const std::string& what,
                                 const std::string& holder);
  DirLock() = default;
  ~DirLock();
  DirLock(DirLock&& other) noexcept;
  DirLock& operator=(DirLock&& other) noexcept;
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_DIR_LOCK_H_
