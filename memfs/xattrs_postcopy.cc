// The post-copy xattrs of a RAM file (see xattrs.h and postcopy.h; their values are formatted
// and parsed by memfs-protocol/postcopy_values.h):
//   user.mkd.wanted   get: {"state":"active","missing":N,"pages":[p,...]}: pages reads wait for
//                     and that were not handed out before; waits up to kWantedWait for one. Each
//                     get renews the driver's lease. ENODATA when the block had no post-copy.
//   user.mkd.postcopy get: statistics (PostcopyStats as JSON); set {"fail":"<reason>"}.
//   user.mkd.receive  on a live block with a post-copy: pages (kinds 0 and 3) and zeros (kind
//                     1) fill missing pages only; kind 2 is refused.
#include "memfs-protocol/names.h"
#include "memfs-protocol/postcopy_values.h"
#include "memfs-protocol/receive_frame.h"
#include "memfs/xattrs.h"

namespace mkd::memfs {

namespace mp = memfs_protocol;

namespace {

constexpr std::chrono::milliseconds kWantedWait{500};

}  // namespace

Status Xattrs::ReceiveMissing(Block& block, const std::string& file,
                              const mp::ReceiveFrame& frame) {
  std::shared_ptr<Postcopy> pc = block.postcopy();
  if (frame.kind == mp::ReceiveKind::kLater) {
    return Status::FailedPrecondition(file + ": " + std::string(mp::kReceive) +
                                      ": later pages after the commit");
  }
  if (frame.kind == mp::ReceiveKind::kRuns) {
    const char* data = frame.data.data();
    for (const mp::LaterRun& r : frame.runs) {
      Result<std::vector<ParkedRead>> done = pc->Receive(r.first, r.count, data, block.file());
      if (!done.ok()) return done.status().WithContext(file + ": " + std::string(mp::kReceive));
      registry_->CompleteReads(*done, 0);
      data += size_t{r.count} * kPageSize;
    }
    return Status::Ok();
  }
  Result<std::vector<ParkedRead>> done = pc->Receive(
      frame.first, frame.count, frame.kind == mp::ReceiveKind::kPages ? frame.data.data() : nullptr,
      block.file());
  if (!done.ok()) return done.status().WithContext(file + ": " + std::string(mp::kReceive));
  registry_->CompleteReads(*done, 0);
  return Status::Ok();
}

Result<std::string> Xattrs::Wanted(Ino ino, size_t size) {
  std::shared_ptr<Block> block = registry_->FindBlock(ino);
  if (!block) return Status::NotFound(std::string(mp::kWanted) + " exists on RAM files only");
  std::shared_ptr<Postcopy> pc = block->postcopy();
  if (!pc) return Status::NotFound("no post-copy on this file");
  if (size < mp::kWantedMinBuffer) {
    return Status::OutOfRange(std::string(mp::kWanted) + " needs a buffer of " +
                              std::to_string(mp::kWantedMinBuffer) + " bytes or more");
  }
  // The pages are taken (not handed out again), so they must all fit the caller's buffer.
  std::vector<uint64_t> pages = pc->TakeWanted(mp::WantedPagesFor(size), kWantedWait);
  const PostcopyStats st = pc->Stats();
  return mp::FormatWanted({st.state, st.missing, std::move(pages)});
}

Result<std::string> Xattrs::GetPostcopy(Block& block) {
  std::shared_ptr<Postcopy> pc = block.postcopy();
  if (!pc) return Status::NotFound("no post-copy on this file");
  return mp::FormatPostcopyStats(pc->Stats());
}

Status Xattrs::SetPostcopy(const NodeRef& node, std::string_view value) {
  MKD_ASSIGN_OR_RETURN(std::string reason, mp::ParsePostcopyFail(value));
  return registry_->FailPostcopy(node.vm, reason);
}

}  // namespace mkd::memfs
