// Admission of serve's connections and reaping of their threads (see connection_pool.h).
#include "migrate-tool/connection_pool.h"

#include <system_error>
#include <utility>

namespace mkd::migrate {

Result<std::thread> ConnectionPool::StartThread(std::function<void()> work) {
  try {
    return std::thread(std::move(work));
  } catch (const std::system_error& e) {
    return Status::Io(std::string("no thread for the connection (") + e.what() +
                      "): the host is out of memory or threads; the connection is refused");
  }
}

ConnectionPool::ConnectionPool(size_t max_sessions, ThreadStarter start)
    : max_sessions_(max_sessions), start_(std::move(start)) {}

Status ConnectionPool::Admit(std::function<void()> work) {
  uint64_t id = 0;
  {
    std::lock_guard lock(mu_);
    if (active_ >= max_sessions_) {
      return Status::FailedPrecondition(
          std::to_string(active_) +
          " connections are being served already, the most this host serves at once (serve "
          "--max-sessions " +
          std::to_string(max_sessions_) + ")");
    }
    ++active_;
    id = next_id_++;
    threads_.emplace(id, std::thread());
  }
  // The slot stays taken until Reap joined the thread: threads never outnumber max_sessions.
  Result<std::thread> t = start_([this, id, work = std::move(work)] {
    work();
    std::lock_guard lock(mu_);
    finished_.push_back(id);
  });
  std::lock_guard lock(mu_);
  if (!t.ok()) {
    --active_;
    threads_.erase(id);
    return t.status();
  }
  threads_[id] = std::move(*t);
  return Status::Ok();
}

size_t ConnectionPool::Reap() {
  std::vector<std::thread> done;
  {
    std::lock_guard lock(mu_);
    std::vector<uint64_t> later;
    for (uint64_t id : finished_) {
      auto it = threads_.find(id);
      if (it == threads_.end()) continue;
      if (!it->second.joinable()) {  // its Admit has not stored the thread yet
        later.push_back(id);
        continue;
      }
      done.push_back(std::move(it->second));
      threads_.erase(it);
      --active_;
    }
    finished_ = std::move(later);
  }
  // The work has returned; these joins wait only for the threads' last instructions.
  for (std::thread& t : done) t.join();
  return done.size();
}

void ConnectionPool::JoinAll() {
  std::map<uint64_t, std::thread> all;
  {
    std::lock_guard lock(mu_);
    all.swap(threads_);
    finished_.clear();
    active_ = 0;
  }
  for (auto& [id, t] : all) {
    if (t.joinable()) t.join();
  }
}

size_t ConnectionPool::active() const {
  std::lock_guard lock(mu_);
  return active_;
}

size_t ConnectionPool::unjoined() const {
  std::lock_guard lock(mu_);
  return threads_.size();
}

}  // namespace mkd::migrate
