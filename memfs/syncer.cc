// Syncer: fsync through the mount on a helper thread, with a timeout (see syncer.h).
#include "memfs/syncer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <memory>
#include <thread>

namespace mkd::memfs {

Result<DirtyLog::Delivery> Syncer::Sync(uint64_t ino, const Uuid& vm, const std::string& block_name,
                                        Block& block, const std::string& consumer) {
  std::lock_guard lock(mu_);
  const std::string path = mountpoint_ + "/" + vm.ToString() + "/" + block_name;
  auto done = std::make_shared<std::promise<int>>();
  std::future<int> result = done->get_future();
  std::thread([path, done] {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    int err = 0;
    if (fd < 0) {
      err = errno;
    } else {
      if (::fsync(fd) != 0) err = errno;
      ::close(fd);
    }
    done->set_value(err);
  }).detach();
  if (result.wait_for(timeout_) != std::future_status::ready) {
    return Status::Io("sync of " + path + ": fsync did not finish within " +
                      std::to_string(timeout_.count()) +
                      " ms (the kernel's write-back is stuck; is the page store full?)");
  }
  if (int err = result.get(); err != 0) {
    return Status::Io("sync of " + path + ": " + std::strerror(err));
  }
  std::lock_guard logs(logs_mu_);  // the take and the delivery as one step (dirty_log.h)
  return logs_[ino].Deliver(consumer, block.TakeDirtySinceSync());
}

Result<DirtyLog::Delivery> Syncer::Take(uint64_t ino, Block& block, const std::string& consumer) {
  std::lock_guard lock(mu_);  // after a sync in progress: its take comes first
  std::lock_guard logs(logs_mu_);
  return logs_[ino].Deliver(consumer, block.TakeDirtySinceSync());
}

std::optional<PageBitmap> Syncer::LastSync(uint64_t ino, const std::string& consumer) const {
  std::lock_guard lock(logs_mu_);
  auto it = logs_.find(ino);
  const PageBitmap* last = it == logs_.end() ? nullptr : it->second.Last(consumer);
  if (last == nullptr) return std::nullopt;
  return *last;
}

void Syncer::Forget(uint64_t ino) {
  std::lock_guard lock(logs_mu_);
  logs_.erase(ino);
}

}  // namespace mkd::memfs
