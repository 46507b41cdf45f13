// ReceiveBatch: the destination's pages on their way into memfs, gathered into as few
// user.mkd.receive writes as possible. A PAGES frame of scattered dirty pages carries one page;
// written alone, each costs a FUSE round trip (127 us a page on a busy host, measured: slower
// than the link). Gathered, up to 15 pages of any runs go in one kind-3 receive frame
// (memfs-protocol/receive_frame.h). The destination flushes before anything else it does with the
// file (zeros, LATER, digests, commit), so memfs sees the pages in the order they came. Owns no
// file: writes through the function it is given (IncomingRam::ReceiveRuns; a test's fake).
// Thread-compatible.
#ifndef MKD_MIGRATE_TOOL_RECEIVE_BATCH_H_
#define MKD_MIGRATE_TOOL_RECEIVE_BATCH_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "genstore/generation.h"
#include "memfs-protocol/receive_frame.h"
#include "migrate-tool/incoming_ports.h"
#include "migrate-tool/ram_file.h"
#include "migrate-tool/wire.h"

namespace mkd::migrate {

class ReceiveBatch {
 public:
  using Writer = std::function<Status(const std::vector<memfs_protocol::LaterRun>& runs,
                                      std::string_view data)>;
  explicit ReceiveBatch(Writer write) : write_(std::move(write)) {}

  // Adds `count` pages from `first` with generation `gen` (content: count * 4 KiB); writes
  // whenever 15 pages are gathered.
  Status Add(uint64_t first, uint64_t count, Generation gen, std::string_view data);
  // Writes what is gathered.
  Status Flush();
  // memfs receive writes made so far.
  uint64_t writes() const { return writes_; }

 private:
  Writer write_;
  std::vector<memfs_protocol::LaterRun> runs_;
  std::string data_;
  uint32_t pages_ = 0;
  uint64_t writes_ = 0;
};

// Writes a PAGES or ZEROS frame's pages (checked against `block_pages` first) into `ram`
// through `batch`: PAGES are gathered, ZEROS flush the batch first.
Status ReceivePagesFrame(IncomingRam& ram, ReceiveBatch& batch, FrameType type,
                         std::string_view payload, const std::vector<uint64_t>& block_pages);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_RECEIVE_BATCH_H_
