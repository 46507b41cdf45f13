// The post-copy xattrs of a RAM file (see xattrs.h and postcopy.h):
//   user.mkd.wanted   get: {"state":"active","missing":N,"pages":[p,...]}: pages reads wait for
//                     and that were not handed out before; waits up to kWantedWait for one. Each
//                     get renews the driver's lease. ENODATA when the block had no post-copy.
//   user.mkd.postcopy get: statistics (PostcopyStats as JSON); set {"fail":"<reason>"}.
//   user.mkd.receive  on a live block with a post-copy: pages (kinds 0 and 3) and zeros (kind
//                     1) fill missing pages only; kind 2 is refused.
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "memfs/arrival.h"
#include "memfs/receive_frame.h"
#include "memfs/xattrs.h"

namespace mkd::memfs {
namespace {

constexpr std::chrono::milliseconds kWantedWait{500};

}  // namespace

Status Xattrs::ReceiveMissing(Block& block, const std::string& file, const ReceiveFrame& frame) {
  std::shared_ptr<Postcopy> pc = block.postcopy();
  if (frame.kind == ReceiveKind::kLater) {
    return Status::FailedPrecondition(file + ": user.mkd.receive: later pages after the commit");
  }
  if (frame.kind == ReceiveKind::kRuns) {
    const char* data = frame.data.data();
    for (const LaterRun& r : frame.runs) {
      Result<std::vector<ParkedRead>> done = pc->Receive(r.first, r.count, data, block.file());
      if (!done.ok()) return done.status().WithContext(file + ": user.mkd.receive");
      registry_->CompleteReads(*done, 0);
      data += size_t{r.count} * kPageSize;
    }
    return Status::Ok();
  }
  Result<std::vector<ParkedRead>> done =
      pc->Receive(frame.first, frame.count,
                  frame.kind == ReceiveKind::kPages ? frame.data.data() : nullptr, block.file());
  if (!done.ok()) return done.status().WithContext(file + ": user.mkd.receive");
  registry_->CompleteReads(*done, 0);
  return Status::Ok();
}

Result<std::string> Xattrs::Wanted(Ino ino, size_t size) {
  std::shared_ptr<Block> block = registry_->FindBlock(ino);
  if (!block) return Status::NotFound("user.mkd.wanted exists on RAM files only");
  std::shared_ptr<Postcopy> pc = block->postcopy();
  if (!pc) return Status::NotFound("no post-copy on this file");
  // Each page number takes at most 11 bytes ("268435455,"); the rest is the frame.
  if (size < 256) return Status::OutOfRange("user.mkd.wanted needs a buffer of 256 bytes or more");
  const size_t max = (std::min(size, kWantedValueMax) - 128) / 11;
  const std::vector<uint64_t> pages = pc->TakeWanted(max, kWantedWait);
  const PostcopyStats st = pc->Stats();
  std::string out = fmt::format(R"({{"state":"{}","missing":{},"pages":[{}]}})", st.state,
                                st.missing, fmt::join(pages, ","));
  return out;
}

Result<std::string> Xattrs::GetPostcopy(Block& block) {
  std::shared_ptr<Postcopy> pc = block.postcopy();
  if (!pc) return Status::NotFound("no post-copy on this file");
  const PostcopyStats st = pc->Stats();
  nlohmann::json doc = {{"state", st.state},
                        {"missing", st.missing},
                        {"total", st.total},
                        {"fetched", st.fetched},
                        {"pushed", st.pushed},
                        {"skipped", st.skipped},
                        {"faults", st.faults},
                        {"parked", st.parked},
                        {"fault_median_ms", st.fault_median_ms},
                        {"fault_p99_ms", st.fault_p99_ms},
                        {"fault_max_ms", st.fault_max_ms},
                        {"seconds", st.seconds}};
  if (!st.reason.empty()) doc["reason"] = st.reason;
  return doc.dump();
}

Status Xattrs::SetPostcopy(const NodeRef& node, std::string_view value) {
  Result<std::string> reason = ParsePostcopyFail(value);
  if (!reason.ok()) return reason.status();
  return registry_->FailPostcopy(node.vm, *reason);
}

}  // namespace mkd::memfs
