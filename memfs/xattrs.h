// Xattrs: answers the `user.mkd.*` extended attributes of the mount (docs/memfs.md lists every
// name with real output). Operators read them with getfattr; mkd-migrate and tests use them as the
// control interface that needs no extra socket. The names and the format of every value belong to
// memfs-protocol/ (names.h and one header per value); this class reads and changes memfs's state.
//
//   every node     user.mkd.summary        get: one line of key=value (summary.h fills it)
//   RAM file       user.mkd.table          get: how to read the table; .0, .1, ...: its chunks
//                  user.mkd.dirty          ... pages written since the VM arrived (bitmap chunks)
//                  user.mkd.synced         ... pages of the last sync made through user.mkd.sync
//                  user.mkd.sync           get: runs a dirty-log sync (fsync), returns its counts
//                                          (memfs-protocol/sync_reply.h)
//                  user.mkd.sync.C         ... the same for dirty-log consumer C (dirty_log.h),
//                  user.mkd.synced.C       ... whose pages no other consumer's sync takes
//                  user.mkd.peer_table.N   set: chunk N of a peer's table to compare against
//                  user.mkd.reusable       get: reusable pages vs the peer table (bitmap chunks)
//                  user.mkd.digests        get: XXH3-64 of every page in the page store (chunks)
//                  user.mkd.receive        set: a frame of received pages (memfs-protocol/
//                                          receive_frame.h) into a block that is
//                                          incoming, or live with pages still missing after a
//                                          post-copy commit; no value (get: ENODATA), not listed
//                  user.mkd.wanted         get: post-copy: waits up to 0.5 s for pages reads
//                                          wait for; JSON (memfs-protocol/postcopy_values.h);
//                                          not listed
//                  user.mkd.postcopy       get: post-copy statistics (JSON); set:
//                                          {"fail":"<reason>"} fails it (docs/postcopy.md)
//   VM directory   user.mkd.arrive         set: {"epoch":E,"lineage":"<uuid>"}; get: pending one
//                                          (memfs-protocol/arrival.h, as the advance value)
//                  user.mkd.commit         set: the arrival commits (incoming -> live)
//                  user.mkd.abort          set: the arrival aborts (incoming -> stored)
//                  user.mkd.advance        set: {"epoch":N}: the running VM goes on in epoch N
//
// Chunked values follow genstore/chunking.h; the base name describes them. A chunked value is
// encoded when its description or chunk 0 is read and served from that snapshot for the other
// chunks, so a reader gets chunks of one blob. Errors: Status codes that ErrnoFor maps (unknown
// name -> ENODATA, bad value -> EINVAL, wrong state -> EBUSY). Thread-safe.
#ifndef MKD_MEMFS_XATTRS_H_
#define MKD_MEMFS_XATTRS_H_

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "genstore/generation_table.h"
#include "memfs-protocol/receive_frame.h"
#include "memfs/registry.h"
#include "memfs/syncer.h"

namespace mkd::memfs {

class Xattrs {
 public:
  Xattrs(Registry* registry, Syncer* syncer) : registry_(registry), syncer_(syncer) {}

  // Names shown by listxattr for this node: those that have a value now (chunk names are not
  // listed: they are read by name).
  std::vector<std::string> List(Ino ino, const NodeRef& node);
  Result<std::string> Get(Ino ino, const NodeRef& node, std::string_view name);
  Status Set(Ino ino, const NodeRef& node, std::string_view name, std::string_view value);
  // user.mkd.wanted of a RAM file, read into a buffer of `size` bytes (at least
  // memfs_protocol::kWantedMinBuffer): waits, see xattrs_postcopy.cc. Separate from Get because the
  // value must fit the caller's buffer (pages handed out are not handed out again).
  Result<std::string> Wanted(Ino ino, size_t size);
  // Forgets per-file state (peer table, chunk snapshots) of a released inode.
  void Forget(Ino ino);

 private:
  struct PeerUpload {
    std::vector<std::optional<std::string>> chunks;
    std::optional<GenerationTable> table;
  };
  Result<std::string> GetFile(Ino ino, const NodeRef& node, std::string_view name);
  // user.mkd.sync[.consumer] (write_back) or user.mkd.take[.consumer]: runs a sync (or a take,
  // a sync without the write-back) for the consumer, keeps its pages for user.mkd.synced.
  Result<std::string> RunSync(Ino ino, const NodeRef& node, Block& block,
                              const std::string& consumer, bool write_back);
  // keep_snapshot false: chunks are cut from a fresh encoding each time (for values that only
  // their own reader changes, whose number is not bounded).
  Result<std::string> Chunked(Ino ino, std::string_view base, std::string_view suffix,
                              const std::function<Result<std::string>()>& encode,
                              bool keep_snapshot = true);
  // user.mkd.synced[.consumer]: the pages of the consumer's last sync, encoded.
  Result<std::string> EncodeSynced(Ino ino, Block& block, const std::string& consumer);
  Status SetPeerChunk(Ino ino, const NodeRef& node, std::string_view index, std::string_view value);
  // user.mkd.receive: writes one frame into the (incoming) block. Messages name the file.
  Status Receive(Ino ino, const NodeRef& node, std::string_view value);
  // ---- Post-copy (xattrs_postcopy.cc) ----
  // user.mkd.receive on a live block with missing pages: answers the reads it completes.
  Status ReceiveMissing(Block& block, const std::string& file,
                        const memfs_protocol::ReceiveFrame& frame);
  // user.mkd.wanted (get, waits) and user.mkd.postcopy (get and set).
  Result<std::string> GetPostcopy(Block& block);
  Status SetPostcopy(const NodeRef& node, std::string_view value);

  Registry* registry_;
  Syncer* syncer_;
  std::mutex mu_;  // guards the maps below
  std::map<std::pair<Ino, std::string>, std::vector<std::string>> snapshots_;
  std::map<Ino, PeerUpload> peers_;
};

// errno for a Status from Get/Set: NotFound -> ENODATA, InvalidArgument/Corrupt/OutOfRange ->
// EINVAL, FailedPrecondition -> EBUSY, Unsupported -> ENOTSUP, Io -> EIO.
int ErrnoFor(const Status& status);

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_XATTRS_H_
