// Gathering received pages into few memfs writes (see receive_batch.h).
#include "migrate-tool/receive_batch.h"

#include <algorithm>

namespace mkd::migrate {

Status ReceiveBatch::Add(uint64_t first, uint64_t count, Generation gen,
                         std::string_view data) {
  for (uint64_t done = 0; done < count;) {
    const uint64_t n = std::min<uint64_t>(count - done, memfs_protocol::kMaxReceivePages - pages_);
    const uint64_t at = first + done;
    if (!runs_.empty() && runs_.back().gen == gen &&
        runs_.back().first + runs_.back().count == at) {
      runs_.back().count += static_cast<uint32_t>(n);  // continues the run before it
    } else {
      runs_.push_back({at, static_cast<uint32_t>(n), gen});  // at most 15: each has a page
    }
    data_.append(data.substr(done * kPageSize, n * kPageSize));
    pages_ += static_cast<uint32_t>(n);
    done += n;
    if (pages_ == memfs_protocol::kMaxReceivePages) MKD_RETURN_IF_ERROR(Flush());
  }
  return Status::Ok();
}

Status ReceiveBatch::Flush() {
  if (pages_ == 0) return Status::Ok();
  Status s = write_(runs_, data_);
  runs_.clear();
  data_.clear();
  pages_ = 0;
  ++writes_;
  return s;
}

Status ReceivePagesFrame(IncomingRam& ram, ReceiveBatch& batch, FrameType type,
                         std::string_view payload, const std::vector<uint64_t>& block_pages) {
  const bool zeros = type == FrameType::kZeros;
  MKD_ASSIGN_OR_RETURN(PagesFrame p, ParsePages(payload, zeros, block_pages));
  if (!zeros) return batch.Add(p.first, p.count, p.gen, p.data);
  MKD_RETURN_IF_ERROR(batch.Flush());
  return ram.ReceiveZeros(p.first, p.count, p.gen);
}

}  // namespace mkd::migrate
