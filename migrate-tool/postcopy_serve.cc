// The destination's post-copy loop (see postcopy_serve.h).
#include "migrate-tool/postcopy_serve.h"

#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "migrate-tool/fault_points.h"
#include "migrate-tool/receive_batch.h"

namespace mkd::migrate {
namespace {

using Clock = std::chrono::steady_clock;

// Waits on user.mkd.wanted in a thread of its own; the loop takes the pages.
class WantedPoller {
 public:
  explicit WantedPoller(std::unique_ptr<IncomingRam> ram)
      : ram_(std::move(ram)), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~WantedPoller() {
    stop_ = true;
    thread_.join();  // TakeWanted returns within 0.5 s
    ::close(wake_);
  }
  int wake_fd() const { return wake_; }
  // The pages gathered since the last call; an error when polling failed.
  Result<std::vector<uint64_t>> Take() {
    uint64_t n;
    (void)!::read(wake_, &n, sizeof(n));
    std::lock_guard lock(mu_);
    if (!error_.ok()) return error_;
    return std::exchange(pages_, {});
  }

 private:
  void Run() {
    while (!stop_) {
      Result<WantedPages> w = ram_->TakeWanted();
      std::lock_guard lock(mu_);
      if (!w.ok()) {
        error_ = w.status().WithContext("waiting for wanted pages");
      } else {
        pages_.insert(pages_.end(), w->pages.begin(), w->pages.end());
      }
      if (!w.ok() || !w->pages.empty()) {
        const uint64_t one = 1;
        (void)!::write(wake_, &one, sizeof(one));
      }
      if (!w.ok() || w->state != "active") return;
    }
  }

  std::unique_ptr<IncomingRam> ram_;
  int wake_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;  // guards pages_ and error_
  std::vector<uint64_t> pages_;
  Status error_;
  std::thread thread_;
};

// Watches the destination QEMU until it runs, in a thread of its own: while QEMU loads its
// device state it may fault on a missing page, and then it answers QMP only once the loop has
// fetched that page, so the loop must never wait for QMP.
class RunningWatcher {
 public:
  RunningWatcher(IncomingMonitor& monitor, std::chrono::milliseconds timeout)
      : monitor_(monitor), timeout_(timeout) {
    thread_ = std::thread([this] { Run(); });
  }
  ~RunningWatcher() {
    stop_ = true;
    thread_.join();
  }
  bool running() const { return state_.load() == kRunning; }
  // The reason QEMU will not run, or Ok while it may still.
  Status failure() {
    if (state_.load() != kFailed) return Status::Ok();
    std::lock_guard lock(mu_);
    return failure_;
  }

 private:
  enum State { kWaiting, kRunning, kFailed };
  void Fail(Status s) {
    std::lock_guard lock(mu_);
    failure_ = std::move(s);
    state_ = kFailed;
  }
  void Run() {
    const auto deadline = Clock::now() + timeout_;
    while (!stop_) {
      Result<qmp::VmStatus> st = monitor_.QueryStatus();
      if (!st.ok()) return Fail(st.status().WithContext("the destination QEMU"));
      if (st->running) {
        state_ = kRunning;
        return;
      }
      if (st->status != "inmigrate" && st->status != "prelaunch" &&
          st->status != "finish-migrate") {
        return Fail(
            Status::FailedPrecondition("the destination QEMU is " + st->status + ", not running"));
      }
      if (Clock::now() > deadline) {
        return Fail(Status::Io("the destination QEMU did not run within the timeout"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  IncomingMonitor& monitor_;
  std::chrono::milliseconds timeout_;
  std::atomic<bool> stop_{false};
  std::atomic<int> state_{kWaiting};
  std::mutex mu_;  // guards failure_
  Status failure_;
  std::thread thread_;
};

}  // namespace

Status RunPostcopyReceiver(IncomingLink& ch, IncomingMemfs& memfs, uint64_t pages,
                           IncomingMonitor& monitor, std::chrono::milliseconds timeout,
                           PostcopyReceiveResult* result) {
  MKD_ASSIGN_OR_RETURN(std::unique_ptr<IncomingRam> ram, memfs.OpenRam());
  MKD_ASSIGN_OR_RETURN(std::unique_ptr<IncomingRam> poll_ram, memfs.OpenRam());
  WantedPoller poller(std::move(poll_ram));
  RunningWatcher watcher(monitor, timeout);
  const std::vector<uint64_t> block_pages = {pages};
  const auto start = Clock::now();
  auto last_frame = start;
  bool end = false;
  uint64_t frames = 0;
  ReceiveBatch batch([&ram](const std::vector<memfs_protocol::LaterRun>& runs,
                            std::string_view data) { return ram->ReceiveRuns(runs, data); });
  while (true) {
    const bool readable = ch.Readable(std::chrono::milliseconds(20), poller.wake_fd());
    // Pages reads wait for go to the source first.
    MKD_ASSIGN_OR_RETURN(std::vector<uint64_t> wanted, poller.Take());
    for (size_t at = 0; at < wanted.size(); at += kMaxWantPages) {
      const size_t n = std::min<size_t>(kMaxWantPages, wanted.size() - at);
      MKD_RETURN_IF_ERROR(ch.Send(
          FrameType::kWant,
          EncodeWant(0, std::vector<uint64_t>(wanted.begin() + static_cast<ptrdiff_t>(at),
                                              wanted.begin() + static_cast<ptrdiff_t>(at + n)))));
    }
    const auto now = Clock::now();
    if (readable) {
      MKD_ASSIGN_OR_RETURN(Frame f, ch.Receive());
      last_frame = now;
      switch (f.type) {
        case FrameType::kPages:
        case FrameType::kPagesZ:
        case FrameType::kZeros: {
          // Each frame goes into memfs at once: a read may wait for its pages.
          MKD_RETURN_IF_ERROR(ReceivePagesFrame(*ram, batch, f.type, f.payload, block_pages));
          MKD_RETURN_IF_ERROR(batch.Flush());
          if (++frames == 100) MKD_RETURN_IF_ERROR(FaultPoint("serve.postcopy"));
          break;
        }
        case FrameType::kPostcopyEnd:
          end = true;
          break;
        case FrameType::kAbort: {
          Result<std::string> why = ParseAbort(f.payload);
          return Status::FailedPrecondition("the source gave up: " +
                                            (why.ok() ? *why : std::string("(unreadable)")));
        }
        default:
          return Status::InvalidArgument("post-copy: unexpected " +
                                         std::string(FrameTypeName(f.type)));
      }
    } else if (!end && now - last_frame > timeout) {
      return Status::Io("the source sent nothing for " + std::to_string(timeout.count()) +
                        " ms while pages were missing");
    }
    if (!result->ran) {
      MKD_RETURN_IF_ERROR(watcher.failure());
      if (watcher.running()) {
        result->ran = true;
        spdlog::info("post-copy: the VM runs here after {:.3f} s",
                     std::chrono::duration<double>(now - start).count());
        MKD_RETURN_IF_ERROR(ch.Send(FrameType::kResult, EncodeResult({true, "running"})));
      }
    }
    if (end && result->ran) {
      MKD_ASSIGN_OR_RETURN(PostcopyStatus st, ram->Postcopy());
      if (st.missing > 0 || st.state != "complete") {
        return Status::Corrupt("the source sent everything but " + std::to_string(st.missing) +
                               " pages are still missing (post-copy " + st.state + ")");
      }
      return ch.Send(FrameType::kPostcopyDone, EncodePostcopyDone(st.done));
    }
  }
}

}  // namespace mkd::migrate
