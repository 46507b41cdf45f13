// ReceiveWriter: the destination's memfs receive writes on a thread of their own, so that taking
// the next frames off the connection (TLS, parsing) overlaps writing the last ones into memfs.
// Measured before it (scripts/bench-pipe, docs/decisions.md "pipe"): with both in one thread the
// source's connection was limited by the destination's receive window most of the time and the
// link ran at 72-84 %. Writes happen one at a time, in the order submitted. At most `depth`
// batches wait (each at most 15 pages: depth x 60 KiB of memory); Submit blocks beyond that.
// The first failed write is kept: nothing is written after it, and every later Submit and Drain
// returns it. Owns the thread; writes through the function it is given (IncomingRam::ReceiveRuns,
// a test's fake), which must not be used by anyone else until Drain returned.
// Thread-safe for one submitting thread.
#ifndef MKD_MIGRATE_TOOL_RECEIVE_WRITER_H_
#define MKD_MIGRATE_TOOL_RECEIVE_WRITER_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/status.h"
#include "memfs-protocol/receive_frame.h"

namespace mkd::migrate {

class ReceiveWriter {
 public:
  using Writer = std::function<Status(const std::vector<memfs_protocol::LaterRun>& runs,
                                      std::string_view data)>;
  // The bound on waiting batches the destination uses (16 x 60 KiB, about 1 MiB per incoming
  // migration; docs/security.md).
  static constexpr size_t kDepth = 16;

  ReceiveWriter(Writer write, size_t depth);
  // Stops the thread after the write in progress; batches not written yet are dropped.
  ~ReceiveWriter();
  ReceiveWriter(const ReceiveWriter&) = delete;
  ReceiveWriter& operator=(const ReceiveWriter&) = delete;

  // Queues one write; waits while `depth` batches wait. Returns the first failed write's error.
  Status Submit(std::vector<memfs_protocol::LaterRun> runs, std::string data);
  // Waits until every submitted batch is written; returns the first failed write's error.
  Status Drain();
  // Seconds spent inside the writer function so far (complete after Drain).
  double write_seconds() const;

 private:
  struct Batch {
    std::vector<memfs_protocol::LaterRun> runs;
    std::string data;
  };
  void Run();

  const Writer write_;
  const size_t depth_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Batch> queue_;
  bool writing_ = false;
  bool stop_ = false;
  Status error_;
  double seconds_ = 0;
  std::thread thread_;  // last: starts after everything it uses
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_RECEIVE_WRITER_H_
