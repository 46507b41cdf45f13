// Gathering received pages into few memfs writes (see receive_batch.h).
#include "migrate-tool/receive_batch.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "migrate-tool/page_codec.h"

namespace mkd::migrate {

ReceiveBatch::ReceiveBatch(Writer write, size_t depth) : write_(std::move(write)) {
  if (depth > 0) writer_ = std::make_unique<ReceiveWriter>(write_, depth);
}

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
    if (pages_ == memfs_protocol::kMaxReceivePages) MKD_RETURN_IF_ERROR(WriteGathered());
  }
  return Status::Ok();
}

Status ReceiveBatch::WriteGathered() {
  if (pages_ == 0) return Status::Ok();
  Status s;
  if (writer_) {
    s = writer_->Submit(std::move(runs_), std::move(data_));
    data_ = std::string();  // the moved-from string, empty by assignment
    data_.reserve(memfs_protocol::kMaxReceivePages * kPageSize);
  } else {
    const auto t0 = std::chrono::steady_clock::now();
    s = write_(runs_, data_);
    sync_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    data_.clear();
  }
  runs_.clear();
  pages_ = 0;
  ++writes_;
  return s;
}

Status ReceiveBatch::Flush() {
  MKD_RETURN_IF_ERROR(WriteGathered());
  return writer_ ? writer_->Drain() : Status::Ok();
}

void ReceiveBatch::Discard() {
  runs_.clear();
  data_.clear();
  pages_ = 0;
  if (writer_) {
    extra_seconds_ += writer_->write_seconds();
    writer_.reset();
  }
}

double ReceiveBatch::write_seconds() const {
  return sync_seconds_ + extra_seconds_ + (writer_ ? writer_->write_seconds() : 0.0);
}

Status ReceivePagesFrame(IncomingRam& ram, ReceiveBatch& batch, FrameType type,
                         std::string_view payload, const std::vector<uint64_t>& block_pages) {
  if (type == FrameType::kPagesZ) {
    thread_local PageDecompressor expander;
    thread_local std::string content;
    MKD_ASSIGN_OR_RETURN(PagesFrame p, ParsePagesZ(payload, block_pages));
    MKD_RETURN_IF_ERROR(expander.Expand(p.data, uint64_t{p.count} * kPageSize, &content));
    return batch.Add(p.first, p.count, p.gen, content);
  }
  const bool zeros = type == FrameType::kZeros;
  MKD_ASSIGN_OR_RETURN(PagesFrame p, ParsePages(payload, zeros, block_pages));
  if (!zeros) return batch.Add(p.first, p.count, p.gen, p.data);
  MKD_RETURN_IF_ERROR(batch.Flush());
  const auto t0 = std::chrono::steady_clock::now();
  Status s = ram.ReceiveZeros(p.first, p.count, p.gen);
  batch.AddWriteSeconds(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return s;
}

}  // namespace mkd::migrate
