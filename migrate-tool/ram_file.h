// RamFile: one RAM block file of a VM on the local memfs mount, seen through the mount only: the
// user.mkd.* xattrs (docs/memfs.md; names and values from memfs-protocol/) for summary, sync,
// tables, bitmaps, digests, received pages, and pread(2) for page content. The migration tool
// never reaches into memfs otherwise, so what it does is what an operator can do with
// getfattr/setfattr.
// Owns a read-only file descriptor. Thread-compatible (one thread at a time).
#ifndef MKD_MIGRATE_TOOL_RAM_FILE_H_
#define MKD_MIGRATE_TOOL_RAM_FILE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/uuid.h"
#include "genstore/generation_table.h"
#include "genstore/page_bitmap.h"
#include "memfs-protocol/postcopy_values.h"
#include "memfs-protocol/receive_frame.h"
#include "memfs-protocol/summary.h"
#include "migrate-tool/wire.h"

namespace mkd::migrate {

// user.mkd.summary of a RAM file (memfs-protocol/summary.h parses it).
using RamFileSummary = memfs_protocol::BlockSummary;
// user.mkd.wanted: the pages reads wait for (post-copy, docs/postcopy.md).
using WantedPages = memfs_protocol::Wanted;

// user.mkd.postcopy: the post-copy's statistics.
struct PostcopyStatus {
  std::string state;
  std::string reason;
  uint64_t missing = 0;
  PostcopyDone done;  // counts and fault latencies as the wire carries them
};
// The statistics memfs returns (memfs-protocol/postcopy_values.h parsed them) as this tool uses
// them.
PostcopyStatus PostcopyStatusOf(const memfs_protocol::PostcopyStats& stats);

// The HELLO (or PLAN) a source sends for VM `vm` whose RAM file has this summary: one block,
// "ram", of the file's pages, in its epoch and lineage.
Hello HelloFor(const Uuid& vm, const RamFileSummary& s, const std::string& source_host);

class RamFile {
 public:
  static Result<RamFile> Open(const std::string& path);
  RamFile(RamFile&& other) noexcept;
  RamFile& operator=(RamFile&& other) noexcept;
  RamFile(const RamFile&) = delete;
  RamFile& operator=(const RamFile&) = delete;
  ~RamFile();

  const std::string& path() const { return path_; }
  Result<RamFileSummary> Summary();
  // A dirty-log sync, then the pages it found, as this RamFile's own dirty-log consumer
  // (user.mkd.sync.<consumer>, user.mkd.synced.<consumer>; docs/memfs.md): another process's
  // syncs of the same file cannot take pages away from it. The first sync starts the view (it
  // returns the pages since anyone's last sync); kFailedPrecondition when memfs reports a later
  // sync's view as new (its cursor was replaced by too many other consumers): pages may be
  // missing, the migration must not go on.
  Result<PageBitmap> Sync();
  // The same without the write-back (user.mkd.take.<consumer>): the pages the kernel has written
  // back so far; pages still dirty in the page cache come in a later Sync. At once.
  Result<PageBitmap> Take();
  // Makes the kernel write back the dirty pages of a range (sync_file_range(2), waiting for
  // them): memfs has taken them into its dirty log when it returns, and a Take delivers them.
  // Other pages may be written back with them. No sync: pages dirtied meanwhile stay dirty.
  Status WriteBack(uint64_t first, uint64_t count);
  // This file's dirty-log consumer name (random per Open).
  const std::string& sync_consumer() const { return consumer_; }
  // The encoded generation table (user.mkd.table, chunks joined).
  Result<std::string> TableBlob();
  Result<GenerationTable> Table();
  // Sets the peer's encoded table (user.mkd.peer_table.N) and returns the reusable bitmap.
  Result<PageBitmap> Reusable(std::string_view peer_table_blob);
  // One XXH3-64 per page of the page store (user.mkd.digests), encoded (genstore digests format).
  Result<std::string> DigestsBlob();
  // Writes received pages into an incoming block (user.mkd.receive frames).
  Status ReceiveZeros(uint64_t first, uint64_t count, Generation gen);
  // Runs of pages (1..15 pages in all) and their content in run order, in one write (kind 3).
  Status ReceiveRuns(const std::vector<memfs_protocol::LaterRun>& runs, std::string_view data);
  // Post-copy: runs of pages whose content comes after the commit (one receive frame of kind
  // "later" per kMaxLaterRuns runs).
  Status ReceiveLater(const std::vector<GenRun>& runs);
  // Post-copy driver: waits (in memfs, up to 0.5 s) for pages reads wait for.
  Result<WantedPages> TakeWanted();
  Result<PostcopyStatus> Postcopy();
  // Fails the post-copy: reads of missing pages fail from now on (user.mkd.postcopy).
  Status FailPostcopy(std::string_view reason);
  // Pages written since the VM arrived (or since the commit), encoded (user.mkd.dirty).
  Result<std::string> DirtyBlob();
  // Reads `count` pages from `first` with pread(2) through the mount: the same page cache the
  // guest runs in, so the guest's current content. memfs offers no auto_inval_data, so a read
  // within the file is copied from the cache without a request to the daemon (docs/decisions.md,
  // "pipe": a read from a mapping of the file cost four times as much here).
  Status ReadPages(uint64_t first, uint64_t count, char* out);
  // Which of the file's `pages` pages are in this host's page cache (mincore(2) over a read-only
  // mapping that touches no page): for a live file, the pages its guest has (the others were
  // never written, or were written back and dropped, and read from memfs).
  Result<PageBitmap> Resident(uint64_t pages);
  // fsync(2) of the file (the kernel writes back every dirty page).
  Status Fsync();

 private:
  RamFile(std::string path, int fd, std::string consumer)
      : path_(std::move(path)), fd_(fd), consumer_(std::move(consumer)) {}
  Result<std::string> Get(std::string_view name);
  Status Set(std::string_view name, std::string_view value);
  Result<std::string> GetChunked(std::string_view base);
  Result<PageBitmap> GetBitmap(std::string_view base);  // chunks joined, decoded

  std::string path_;
  int fd_ = -1;
  std::string consumer_;
  // Sync and Take: the named getxattr, its reply checked, then the pages.
  Result<PageBitmap> Deliver(const std::string& name);
  uint64_t syncs_ = 0;
};

// Sets a VM directory's lifecycle xattr (memfs_protocol::kArrive, kCommit, kAbort, kAdvance).
Status SetVmDirXattr(const std::string& vm_dir, std::string_view name, std::string_view value);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_RAM_FILE_H_
