// The destination's memfs writes on a thread of their own (see receive_writer.h).
#include "migrate-tool/receive_writer.h"

#include <chrono>
#include <utility>

namespace mkd::migrate {

ReceiveWriter::ReceiveWriter(Writer write, size_t depth)
    : write_(std::move(write)), depth_(depth == 0 ? 1 : depth), thread_([this] { Run(); }) {}

ReceiveWriter::~ReceiveWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    queue_.clear();
  }
  changed_.notify_all();
  thread_.join();
}

Status ReceiveWriter::Submit(std::vector<memfs_protocol::LaterRun> runs, std::string data) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [this] { return !error_.ok() || queue_.size() < depth_; });
  if (!error_.ok()) return error_;
  queue_.push_back(Batch{std::move(runs), std::move(data)});
  changed_.notify_all();
  return Status::Ok();
}

Status ReceiveWriter::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [this] { return queue_.empty() && !writing_; });
  return error_;
}

double ReceiveWriter::write_seconds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seconds_;
}

void ReceiveWriter::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    changed_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    Batch b = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    lock.unlock();
    const auto t0 = std::chrono::steady_clock::now();
    Status s = write_(b.runs, b.data);
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    lock.lock();
    seconds_ += took;
    writing_ = false;
    if (!s.ok()) {
      error_ = std::move(s);
      queue_.clear();  // nothing is written after a failed write
    }
    changed_.notify_all();
  }
}

}  // namespace mkd::migrate
