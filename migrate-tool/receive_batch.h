// ReceiveBatch: the destination's pages on their way into memfs, gathered into as few
// user.mkd.receive writes as possible. A PAGES frame of scattered dirty pages carries one page;
// written alone, each costs a FUSE round trip (127 us a page on a busy host, measured: slower
// than the link). Gathered, up to 15 pages of any runs go in one kind-3 receive frame
// (memfs-protocol/receive_frame.h). The destination flushes before anything else it does with the
// file (zeros, LATER, digests, commit), so memfs sees the pages in the order they came. With a
// depth, full batches are written by a ReceiveWriter thread while the caller receives the next
// frames; Flush waits for them. Owns no file: writes through the function it is given
// (IncomingRam::ReceiveRuns; a test's fake). Thread-compatible.
#ifndef MKD_MIGRATE_TOOL_RECEIVE_BATCH_H_
#define MKD_MIGRATE_TOOL_RECEIVE_BATCH_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "genstore/generation.h"
#include "memfs-protocol/receive_frame.h"
#include "migrate-tool/incoming_ports.h"
#include "migrate-tool/ram_file.h"
#include "migrate-tool/receive_writer.h"
#include "migrate-tool/wire.h"

namespace mkd::migrate {

class ReceiveBatch {
 public:
  using Writer = ReceiveWriter::Writer;  // one memfs receive write of gathered runs
  // depth 0: every write is made in the caller's thread. Otherwise full batches go to a
  // ReceiveWriter thread with at most `depth` of them waiting.
  explicit ReceiveBatch(Writer write, size_t depth = 0);

  // Adds `count` pages from `first` with generation `gen` (content: count * 4 KiB); writes (or,
  // with a depth, queues) whenever 15 pages are gathered. Returns a failed earlier write's error.
  Status Add(uint64_t first, uint64_t count, Generation gen, std::string_view data);
  // Writes what is gathered and waits until every write is made.
  Status Flush();
  // Drops what is gathered and what waits; returns once no write is in progress (an abort:
  // before the file the writes go to is closed). Later Adds and Flushes write synchronously.
  void Discard();
  // memfs receive writes made (or queued) so far.
  uint64_t writes() const { return writes_; }
  // Seconds spent in memfs writes: the writer function's, plus what AddWriteSeconds added
  // (complete after Flush).
  double write_seconds() const;
  void AddWriteSeconds(double seconds) { extra_seconds_ += seconds; }

 private:
  Status WriteGathered();

  Writer write_;
  std::unique_ptr<ReceiveWriter> writer_;  // with a depth, until Discard
  double sync_seconds_ = 0, extra_seconds_ = 0;
  std::vector<memfs_protocol::LaterRun> runs_;
  std::string data_;
  uint32_t pages_ = 0;
  uint64_t writes_ = 0;
};

// Writes a PAGES, PAGES_Z or ZEROS frame's pages (checked against `block_pages` first) into `ram`
// through `batch`: PAGES are gathered, PAGES_Z expanded first (page_codec.h, with a context and
// a buffer of at most one frame's pages kept per thread: about 1.2 MiB per connection thread),
// ZEROS flush the batch first.
Status ReceivePagesFrame(IncomingRam& ram, ReceiveBatch& batch, FrameType type,
                         std::string_view payload, const std::vector<uint64_t>& block_pages);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_RECEIVE_BATCH_H_
